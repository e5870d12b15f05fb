"""Whole runs of the complete example, as cron starts them: each one a process, timed from outside.

Bars:

* Nothing new: a run that finds no new items takes at most 1.5x the time of
  `baseline_collector.py`, a hand-written standard-library script doing the
  same fetch and the same state save. The collector measured is
  examples/quiet_collector.py (the complete example, refined to publish
  nothing when nothing is new), run by `stateful-collectors run`. The seed's
  collector, examples/my_statefull_collector.py, publishes a message holding
  `[]` on every run; it is measured too, against the baseline script doing the
  same (`--publish-always`: append the same message to a JSON Lines file and
  fsync it).
* Growth: a run of the complete example that finds 10 new items takes the same
  time (within 10%) whether the feed holds 1,000 or 100,000 older items, and
  leaves a state file of the same size: the cost of a run follows the new data,
  not the history.

The demo feed (`stateful_collectors.demo.feed.DemoFeed`) serves from this
process, in a background thread, on a free port; the collectors publish to the
JSON Lines outbox (no broker), so the figures are the library's own overhead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import BenchmarkError, interleave, median, paired_ratio, run_process
from benchmarks.results import Row, at_most, format_bytes, format_seconds, judged
from stateful_collectors.demo import DemoFeed
from stateful_collectors.state import StateFile

__all__ = ["GROWTH_BAR", "NOTHING_NEW_BAR", "run_growth", "run_nothing_new"]

NOTHING_NEW_BAR = 1.5
"""A run with nothing new may take at most this many times the hand-written script."""
GROWTH_BAR = 1.10
"""A run over a 100,000-item history may take at most this many times one over 1,000."""

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BASELINE_SCRIPT = Path(__file__).resolve().with_name("baseline_collector.py")
FEED_START = "2026-11-01T00:00:00Z"
NEW_ITEMS = 10


def collector_command() -> list[str]:
    """`stateful-collectors` of this environment (the console script cron would run)."""
    script = Path(sys.executable).parent / "stateful-collectors"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "stateful_collectors"]


def clean_env() -> dict[str, str]:
    """The environment for the measured processes: no overrides of config, outbox or broker."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("STATEFUL_COLLECTORS_") and name != "PYTHONPATH"
    }


class Program:
    """One collector program set up in its own directory, with its state file and outbox."""

    def __init__(self, argv: list[str], workdir: Path, state_path: Path, outbox: Path) -> None:
        self.argv = argv
        self.workdir = workdir
        self.state_path = state_path
        self.outbox = outbox
        self.env = clean_env()

    @classmethod
    def library(cls, workdir: Path, target: str, url: str) -> Program:
        """`stateful-collectors run TARGET --config FILE`, with the outbox as its sink."""
        workdir.mkdir(parents=True)
        config = workdir / "collector.conf"
        config.write_text(
            f"[my_statefull_collector]\nstate_dir = {workdir / 'state'}\nurl = {url}\n\n"
            f"[outbox]\npath = {workdir / 'outbox.jsonl'}\n"
        )
        command = collector_command()
        state_path = subprocess.run(
            [*command, "state", "path", target, "--config", str(config)],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
            cwd=workdir,
        ).stdout.strip()
        argv = [*command, "run", target, "--config", str(config)]
        return cls(argv, workdir, Path(state_path), workdir / "outbox.jsonl")

    @classmethod
    def baseline(cls, workdir: Path, url: str, *, publish_always: bool) -> Program:
        """The hand-written script (see baseline_collector.py)."""
        (workdir / "state").mkdir(parents=True, mode=0o700)
        state_path = workdir / "state" / "baseline.pickle"
        outbox = workdir / "outbox.jsonl"
        argv = [sys.executable, str(BASELINE_SCRIPT), url, str(state_path), str(outbox)]
        if publish_always:
            argv.append("--publish-always")
        return cls(argv, workdir, state_path, outbox)

    def run(self) -> float:
        """One whole run; its wall time in seconds."""
        return run_process(self.argv, cwd=self.workdir, env=self.env)

    def state(self) -> dict:
        """The state the last run saved (read with the library, checks included)."""
        return StateFile(self.state_path).load(default=dict)

    def outbox_lines(self) -> list[bytes]:
        """The messages published so far, one JSON line each."""
        try:
            return self.outbox.read_bytes().splitlines()
        except FileNotFoundError:
            return []


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise BenchmarkError(problem)


# ---------------------------------------------------------------- nothing new


def run_nothing_new(directory: Path, *, quick: bool = False) -> list[Row]:
    """Runs that find nothing new, against the hand-written script; the table's rows."""
    feed = DemoFeed(20, start=FEED_START)
    newest = feed.items()[-1]["time"]
    with feed.serve() as server:
        url = f"{server.url}/items.json"
        programs = {
            "quiet": Program.library(
                directory / "quiet", f"{EXAMPLES / 'quiet_collector.py'}:QuietCollector", url
            ),
            "quiet-baseline": Program.baseline(
                directory / "quiet-baseline", url, publish_always=False
            ),
            "seed": Program.library(
                directory / "seed",
                f"{EXAMPLES / 'my_statefull_collector.py'}:MyStatefullCollector",
                url,
            ),
            "seed-baseline": Program.baseline(
                directory / "seed-baseline", url, publish_always=True
            ),
        }
        for program in programs.values():  # the first run fetches everything; not timed
            program.run()
            _expect(program.state().get("last_utc") == newest, f"{program.argv}: wrong state")
        rounds, warmup = (2, 0) if quick else (25, 1)
        timings = interleave(
            {name: program.run for name, program in programs.items()}, rounds, warmup
        )
    for name, program in programs.items():
        _expect(program.state().get("last_utc") == newest, f"{name}: the state moved")
        published = len(program.outbox_lines())
        expected = 1 + (rounds + warmup if name.startswith("seed") else 0)
        _expect(published == expected, f"{name}: {published} messages published, not {expected}")
    rows = []
    for name, what, baseline_what in (
        (
            "quiet",
            "run with nothing new: quiet_collector.py",
            "stdlib script",
        ),
        (
            "seed",
            "run with nothing new: my_statefull_collector.py",
            "stdlib script + append []",
        ),
    ):
        ours, theirs = median(timings[name]), median(timings[f"{name}-baseline"])
        ratio = paired_ratio(timings[name], timings[f"{name}-baseline"])
        rows.append(
            at_most(
                what,
                format_seconds(ours),
                f"{format_seconds(theirs)} {baseline_what}",
                ratio=ratio,
                bar=NOTHING_NEW_BAR,
                quick=quick,
                chart_label=f"run, nothing new ({name})",
            )
        )
    return rows


# ---------------------------------------------------------------- growth


class GrowthRun:
    """A contender: put the state 10 items behind (untimed), time one run, check what it saved."""

    def __init__(self, program: Program, old_time: str, new_time: str) -> None:
        self.program = program
        self.old_time = old_time
        self.new_time = new_time
        self.state_sizes: list[int] = []

    def __call__(self) -> float:
        StateFile(self.program.state_path).save({"last_utc": self.old_time})
        elapsed = self.program.run()
        saved = self.program.state()
        _expect(saved == {"last_utc": self.new_time}, f"growth run saved {saved}")
        self.state_sizes.append(self.program.state_path.stat().st_size)
        return elapsed


def run_growth(directory: Path, *, quick: bool = False) -> list[Row]:
    """A run finding 10 new items over a short and a long history; the table's rows."""
    histories = {"short": 1_000, "long": 100_000}
    contenders: dict[str, GrowthRun] = {}
    servers = []
    try:
        for name, history in histories.items():
            feed = DemoFeed(history + NEW_ITEMS, start=FEED_START)
            times = [item["time"] for item in feed.items()]
            server = feed.serve()
            servers.append(server)
            program = Program.library(
                directory / f"growth-{name}",
                f"{EXAMPLES / 'my_statefull_collector.py'}:MyStatefullCollector",
                f"{server.url}/items.json",
            )
            contenders[name] = GrowthRun(program, times[history - 1], times[-1])
        rounds, warmup = (2, 0) if quick else (50, 1)
        timings = interleave(contenders, rounds, warmup)
    finally:
        for server in servers:
            server.close()
    for program_name in histories:
        lines = (directory / f"growth-{program_name}" / "outbox.jsonl").read_bytes().splitlines()
        _expect(len(lines) == rounds + warmup, f"growth-{program_name}: {len(lines)} messages")
    short, long = median(timings["short"]), median(timings["long"])
    ratio = paired_ratio(timings["long"], timings["short"])
    short_sizes, long_sizes = contenders["short"].state_sizes, contenders["long"].state_sizes
    same_size = set(short_sizes) == set(long_sizes) and len(set(long_sizes)) == 1
    return [
        at_most(
            f"growth: run finding {NEW_ITEMS} new items, 100,000 vs 1,000 old",
            f"{format_seconds(long)} (100,000)",
            f"{format_seconds(short)} (1,000)",
            ratio=ratio,
            bar=GROWTH_BAR,
            quick=quick,
            chart_label="growth: run time",
        ),
        judged(
            "growth: state file size, 100,000 vs 1,000 old",
            format_bytes(long_sizes[-1]),
            format_bytes(short_sizes[-1]),
            ratio=f"{long_sizes[-1] / short_sizes[-1]:.2f}x",
            bar="same size",
            passed=same_size,
            quick=quick,
            cost=long_sizes[-1] / short_sizes[-1],
            cost_limit=1.0,
            chart_label="growth: state size",
        ),
    ]
