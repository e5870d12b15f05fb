"""A big feed: a time-ordered rows run over 1,000,000 CSV rows, 1,000 of them new.

Many real sources are one large CSV file that grows at the end: a run
downloads all of it and publishes the rows no earlier run published. This
benchmark writes such a file (`id,time,severity,title`, about 80 MB), runs
the collector once over its first 999,000 rows (untimed: that is the state a
cron job would have), then times runs over the whole file, each starting
from that state, each finding the 1,000 new rows and publishing them as one
message to the JSON Lines outbox.

* this project: `benchmarks/rows_collector.py`, a `BaseTimeOrderedRowsCollector`
  with the base class's defaults, run by `stateful-collectors run`;
* the baseline: `benchmarks/baseline_rows.py`, a hand-written standard-library
  script that does the same selection (boundary rows exactly once, by the
  same digests), the same append-and-fsync and the same durable save.

Bars: the run takes at most 1.3x the script's time, and its peak resident
memory is at most 1.5x the script's. Both are whole processes, timed from
outside, their memory the kernel's count for each (`wait4`), in interleaved
rounds; `--quick` uses 20,000 rows, 100 of them new.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from benchmarks.measure import (
    BenchmarkError,
    interleave,
    median,
    paired_ratio,
    run_process_with_memory,
)
from benchmarks.results import Row, at_most, format_seconds
from benchmarks.whole_run import clean_env, collector_command

__all__ = ["MEMORY_BAR", "TIME_BAR", "run_rows_feed", "write_feed"]

TIME_BAR = 1.3
"""The rows collector's run may take at most this many times the hand-written script's."""
MEMORY_BAR = 1.5
"""Its peak resident memory may be at most this many times the script's."""

HERE = Path(__file__).resolve().parent
START = 1_700_000_000  # the first row's time, in seconds since the epoch


def _row(number: int) -> bytes:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(START + number * 7, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    severity = ("low", "medium", "high")[number % 3]
    title = f"Demo advisory {number} about a host on the network"
    return f"{number},{moment},{severity},{title}\n".encode()


def write_feed(path: Path, rows: int) -> None:
    """The CSV file: a header and `rows` rows, times increasing (7 s apart)."""
    with open(path, "wb") as file:
        file.write(b"id,time,severity,title\n")
        for number in range(1, rows + 1):
            file.write(_row(number))


def _megabytes(size: float) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def run_rows_feed(directory: Path, *, quick: bool = False) -> list[Row]:
    """Set up both programs, time their runs over the grown file; the table's rows."""
    total, new = (20_000, 100) if quick else (1_000_000, 1_000)
    old_feed, feed = directory / "old.csv", directory / "feed.csv"
    write_feed(old_feed, total - new)
    write_feed(feed, total)
    size = feed.stat().st_size
    env = clean_env()

    library_dir = directory / "library"
    (library_dir / "state").mkdir(parents=True, mode=0o700)
    config = library_dir / "collector.conf"

    def configure(path: Path) -> None:
        config.write_text(
            f"[csv_file]\nstate_dir = {library_dir / 'state'}\npath = {path}\n\n"
            f"[outbox]\npath = {library_dir / 'outbox.jsonl'}\n"
        )

    library_argv = [
        *collector_command(),
        "run",
        f"{HERE / 'rows_collector.py'}:CsvFileCollector",
        "--config",
        str(config),
    ]
    baseline_dir = directory / "baseline"
    (baseline_dir / "state").mkdir(parents=True, mode=0o700)
    baseline_state = baseline_dir / "state" / "baseline.pickle"

    def baseline_argv(path: Path) -> list[str]:
        return [
            sys.executable,
            str(HERE / "baseline_rows.py"),
            str(path),
            str(baseline_state),
            str(baseline_dir / "outbox.jsonl"),
        ]

    # The state a cron job would have: one run over the older rows, untimed.
    configure(old_feed)
    run_process_with_memory(library_argv, cwd=library_dir, env=env)
    run_process_with_memory(baseline_argv(old_feed), cwd=baseline_dir, env=env)
    configure(feed)
    library_state = next((library_dir / "state").glob("*.pickle"))
    snapshots = {
        library_state: library_state.read_bytes(),
        baseline_state: baseline_state.read_bytes(),
    }
    memory: dict[str, list[int]] = {"library": [], "baseline": []}

    def contender(name: str, argv: list[str], cwd: Path, state: Path):
        def run() -> float:
            state.write_bytes(snapshots[state])  # each round starts from the same state
            seconds, peak = run_process_with_memory(argv, cwd=cwd, env=env)
            memory[name].append(peak)
            _check_published(cwd / "outbox.jsonl", new)
            return seconds

        return run

    timings = interleave(
        {
            "library": contender("library", library_argv, library_dir, library_state),
            "baseline": contender("baseline", baseline_argv(feed), baseline_dir, baseline_state),
        },
        rounds=1 if quick else 11,  # a big run is sensitive to a busy moment: more rounds
        warmup=0 if quick else 1,
    )
    warmup = len(memory["library"]) - len(timings["library"])
    ours_memory, their_memory = memory["library"][warmup:], memory["baseline"][warmup:]
    what = f"{total:,} CSV rows ({_megabytes(size)}), {new:,} new"
    rows = [
        at_most(
            f"time-ordered rows, {what}: run time",
            format_seconds(median(timings["library"])),
            f"{format_seconds(median(timings['baseline']))} stdlib script",
            ratio=paired_ratio(timings["library"], timings["baseline"]),
            bar=TIME_BAR,
            quick=quick,
            chart_label="rows run, 1M CSV rows",
        ),
        at_most(
            f"time-ordered rows, {what}: peak memory",
            _megabytes(median(ours_memory)),
            f"{_megabytes(median(their_memory))} stdlib script",
            ratio=paired_ratio(ours_memory, their_memory),
            bar=MEMORY_BAR,
            quick=quick,
            chart_label="rows run, peak memory",
        ),
    ]
    shutil.rmtree(directory, ignore_errors=True)  # 160 MB of CSV
    return rows


def _check_published(outbox: Path, new: int) -> None:
    """The run's message is the outbox's last line, holding the `new` rows, no more."""
    last = outbox.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    body = json.loads(last)["body"]
    if body.count("\n") + 1 != new:
        raise BenchmarkError(f"{outbox}: the last message holds {body.count(chr(10)) + 1} rows")
