"""`save_state` and `load_state` against what a careful programmer would write by hand.

Bars:

* `save_state` of a 1 KiB state: median at most 1.15x a hand-written durable
  replace (`mkstemp`, write, `fsync`, `os.replace`, `fsync` of the directory)
  in the same directory; a 10 MiB state: throughput at least 0.9x of the
  hand-written version.
* `load_state` of a 1 KiB state: at most 1.2x a plain `open` + `pickle.load`,
  although `load_state` checks the directory's and the file's owner and modes
  before it unpickles anything; a 10 MiB state: throughput at least 0.9x of
  the plain load, checks included (a large state is unpickled from the open
  file, not read into one string of bytes first).

For context (no bar), the price of durability: the same save done unsafely,
by overwriting the file in place, or by a temporary file renamed without any
`fsync`. Either can leave an empty or half-written state after a power cut.

Both sides encode the same state with pickle protocol 5 and write to the same
directory on the same file system, in interleaved rounds.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, batch, interleave, median, paired_ratio
from benchmarks.results import Row, at_least, at_most, format_rate, format_seconds
from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.state import StatefulCollectorMixin

__all__ = [
    "LOAD_BAR",
    "LOAD_THROUGHPUT_BAR",
    "SAVE_BAR",
    "SAVE_THROUGHPUT_BAR",
    "run_state_benchmarks",
]

SAVE_BAR = 1.15
"""`save_state` (1 KiB) may take at most this many times the hand-written durable replace."""
SAVE_THROUGHPUT_BAR = 0.9
"""`save_state` (10 MiB) must write at least this fraction of the hand-written throughput."""
LOAD_BAR = 1.2
"""`load_state` (1 KiB) may take at most this many times `open` + `pickle.load`."""
LOAD_THROUGHPUT_BAR = 0.9
"""`load_state` (10 MiB) must read at least this fraction of `open` + `pickle.load`'s throughput."""

KIB = 1024
MIB = 1024 * 1024
_PROTOCOL = 5  # what the library's pickle codec writes


class BenchCollector(StatefulCollectorMixin, AbstractBaseCollector):
    """The smallest stateful collector: the mixin on the abstract base, `state_dir` configured."""

    config_spec = """
        [bench]
        state_dir :: path
    """

    def __init__(self, state_dir: str) -> None:
        super().__init__(config_text=f"[bench]\nstate_dir = {state_dir}\n")


def state_of_size(size: int) -> dict[str, Any]:
    """A state that pickles to exactly `size` bytes (for sizes above ~200)."""
    state: dict[str, Any] = {
        "last_utc": "2026-11-27T20:00:00Z",
        "etag": '"4711"',
        "recent_ids": list(range(100_000, 100_032)),
        "payload": b"",
    }
    overhead = len(pickle.dumps(state, protocol=_PROTOCOL))
    blob = os.urandom(size)
    for pad in range(max(0, size - overhead - 16), size):
        state["payload"] = blob[:pad]
        encoded = len(pickle.dumps(state, protocol=_PROTOCOL))
        if encoded == size:
            return state
        if encoded > size:
            break
    raise ValueError(f"cannot build a state of exactly {size} bytes")


# ---------------------------------------------------------------- the baselines


def durable_replace(path: str, data: bytes) -> None:
    """The hand-written baseline: mkstemp, write, fsync, os.replace, fsync of the directory."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".hand-", suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def unsafe_overwrite(path: str, data: bytes) -> None:
    """Unsafe: truncate and write in place, no fsync (a crash can leave it empty or torn)."""
    with open(path, "wb") as file:
        file.write(data)


def unsafe_rename(path: str, data: bytes) -> None:
    """Unsafe: temporary file and rename, no fsync (a power cut can leave an empty file)."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".unsafe-", suffix=".tmp")
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temp, path)


def plain_load(path: str) -> Any:
    """The load baseline: open the file and unpickle it, with no checks at all."""
    with open(path, "rb") as file:
        return pickle.load(file)


# ---------------------------------------------------------------- timing


def _timed_save(save: Callable[[], None]) -> Callable[[], float]:
    def timed() -> float:
        started = time.perf_counter()
        save()
        return time.perf_counter() - started

    return timed


def _save_contenders(
    collector: BenchCollector, state: dict[str, Any], directory: str, *, unsafe: bool
) -> dict[str, Callable[[], float]]:
    hand_path = os.path.join(directory, "hand-written.pickle")
    contenders = {
        "save_state": _timed_save(lambda: collector.save_state(state)),
        "hand": _timed_save(lambda: durable_replace(hand_path, pickle.dumps(state, _PROTOCOL))),
    }
    if unsafe:
        overwrite_path = os.path.join(directory, "unsafe-overwrite.pickle")
        rename_path = os.path.join(directory, "unsafe-rename.pickle")
        contenders["overwrite"] = _timed_save(
            lambda: unsafe_overwrite(overwrite_path, pickle.dumps(state, _PROTOCOL))
        )
        contenders["rename"] = _timed_save(
            lambda: unsafe_rename(rename_path, pickle.dumps(state, _PROTOCOL))
        )
    return contenders


def _check_saved(collector: BenchCollector, state: dict[str, Any]) -> None:
    if collector.load_state() != state:
        raise BenchmarkError("save_state did not store the state it was given")


def run_state_benchmarks(directory: str | os.PathLike[str], *, quick: bool = False) -> list[Row]:
    """Measure saves and loads in a state dir under `directory`; return the table's rows."""
    state_dir = Path(directory) / "state"
    collector = BenchCollector(str(state_dir))
    try:
        return _run(collector, str(state_dir), quick)
    finally:
        collector.close()


def _run(collector: BenchCollector, state_dir: str, quick: bool) -> list[Row]:
    rows: list[Row] = []
    small = state_of_size(KIB)
    collector.save_state(small)  # creates the dir (0700) and takes the lock, untimed
    _check_saved(collector, small)

    # save, 1 KiB, with the unsafe variants for context
    saves = interleave(
        _save_contenders(collector, small, state_dir, unsafe=True), rounds=10 if quick else 400
    )
    _check_saved(collector, small)
    ours, hand = median(saves["save_state"]), median(saves["hand"])
    ratio = paired_ratio(saves["save_state"], saves["hand"])
    rows.append(
        at_most(
            "save_state, 1 KiB state",
            format_seconds(ours),
            f"{format_seconds(hand)} hand-written durable replace",
            ratio=ratio,
            bar=SAVE_BAR,
            quick=quick,
            chart_label="save_state, 1 KiB",
        )
    )
    for key, label, how in (
        ("overwrite", "unsafe overwrite", "overwrite in place, no fsync"),
        ("rename", "unsafe rename", "temp + rename, no fsync"),
    ):
        unsafe = median(saves[key])
        rows.append(
            Row(
                f"save_state, 1 KiB, vs {label}",
                format_seconds(ours),
                f"{format_seconds(unsafe)} {how}",
                f"{paired_ratio(saves['save_state'], saves[key]):.1f}x",
                "",
                "context (unsafe baseline)",
            )
        )

    # save, 10 MiB: throughput
    large = state_of_size(10 * MIB)
    saves = interleave(
        _save_contenders(collector, large, state_dir, unsafe=False), rounds=2 if quick else 40
    )
    _check_saved(collector, large)
    ours_rate = 10 * MIB / median(saves["save_state"]) / MIB
    hand_rate = 10 * MIB / median(saves["hand"]) / MIB
    ratio = paired_ratio(saves["hand"], saves["save_state"])  # rates: the inverse of times
    rows.append(
        at_least(
            "save_state, 10 MiB state (throughput)",
            format_rate(ours_rate, "MiB/s"),
            f"{format_rate(hand_rate, 'MiB/s')} hand-written durable replace",
            ratio=ratio,
            bar=SAVE_THROUGHPUT_BAR,
            quick=quick,
            chart_label="save_state, 10 MiB (time per MiB)",
        )
    )

    # load, 1 KiB: both read the collector's own state file
    collector.save_state(small)
    path = os.fspath(collector.state_file_path)
    if plain_load(path) != small or collector.load_state() != small:
        raise BenchmarkError("the two loads do not give the saved state")
    calls = 20 if quick else 100
    loads = interleave(
        {
            "load_state": batch(collector.load_state, calls),
            "plain": batch(lambda: plain_load(path), calls),
        },
        rounds=10 if quick else 300,
    )
    ours, plain = median(loads["load_state"]), median(loads["plain"])
    ratio = paired_ratio(loads["load_state"], loads["plain"])
    rows.append(
        at_most(
            "load_state, 1 KiB state, checks included",
            format_seconds(ours),
            f"{format_seconds(plain)} open + pickle.load",
            ratio=ratio,
            bar=LOAD_BAR,
            quick=quick,
            chart_label="load_state, 1 KiB",
        )
    )

    # load, 10 MiB
    collector.save_state(large)
    loads = interleave(
        {
            "load_state": batch(collector.load_state, 1),
            "plain": batch(lambda: plain_load(path), 1),
        },
        rounds=2 if quick else 25,
    )
    ours_rate = 10 / median(loads["load_state"])
    plain_rate = 10 / median(loads["plain"])
    rows.append(
        at_least(
            "load_state, 10 MiB state (throughput)",
            format_rate(ours_rate, "MiB/s"),
            f"{format_rate(plain_rate, 'MiB/s')} open + pickle.load",
            ratio=paired_ratio(loads["plain"], loads["load_state"]),
            bar=LOAD_THROUGHPUT_BAR,
            quick=quick,
            chart_label="load_state, 10 MiB",
        )
    )
    return rows
