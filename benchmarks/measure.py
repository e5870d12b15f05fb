"""Timing helpers: interleaved rounds, medians, and whole processes timed from outside.

Every comparison runs its contenders in the same rounds, one after the other,
and rotates their order from round to round, so that whatever else the machine
does at that moment (other processes, disk flushes, frequency changes) hits
all of them alike. Medians, not means, summarise the rounds: a few slow
outliers move a median very little. A comparison is the median of the
rounds' own ratios (`paired_ratio`), each round comparing two measurements
taken seconds apart.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "BenchmarkError",
    "batch",
    "interleave",
    "median",
    "paired_difference",
    "paired_ratio",
    "run_process",
    "run_process_with_memory",
]

median = statistics.median


def paired_ratio(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """The median, over the rounds, of `subject / baseline` within each round.

    Both were measured back to back in each round, so a busy moment of the
    machine inflates both sides of one ratio; the median then drops the rounds
    where it hit only one of them. Steadier than the ratio of the two medians.
    """
    return median(ours / theirs for ours, theirs in zip(subject, baseline, strict=True))


def paired_difference(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """The median, over the rounds, of `subject - baseline` within each round."""
    return median(ours - theirs for ours, theirs in zip(subject, baseline, strict=True))


class BenchmarkError(Exception):
    """A benchmark could not measure what it should (a process failed, a check did not hold)."""


def interleave(
    contenders: Mapping[str, Callable[[], float]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each contender once per round, rotating the order; return each one's timings.

    Each contender is a callable that does one measured thing and returns the
    seconds it took (so set-up work between measurements stays untimed).
    `warmup` rounds run first and are not recorded.
    """
    names = list(contenders)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for number in range(warmup + rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = contenders[name]()
            if number >= warmup:
                timings[name].append(elapsed)
    return timings


def batch(function: Callable[[], object], calls: int) -> Callable[[], float]:
    """A contender that calls `function` `calls` times and returns the mean time per call.

    For operations of a few microseconds, where one call is too short to time
    on its own.
    """

    def timed() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - started) / calls

    return timed


def run_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> float:
    """Run a whole process and return its wall time in seconds, measured from outside.

    Its output is discarded (captured only to explain a failure).

    Raises:
        BenchmarkError: the process exited with a non-zero status.
    """
    return run_process_with_memory(argv, cwd=cwd, env=env, timeout=timeout)[0]


def run_process_with_memory(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> tuple[float, int]:
    """Like `run_process`, and also the process's peak resident memory, in bytes.

    The peak is the kernel's own count for that one child (`ru_maxrss` from
    `wait4`), so no other process of the harness is in it.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    timer = threading.Timer(timeout, process.kill)  # a stuck process ends the measurement
    timer.start()
    try:
        stderr = process.stderr.read()  # until the process closes it, at its end
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        raise
    finally:
        timer.cancel()
        process.stderr.close()
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines() or ["no output"]
        command = " ".join([os.path.basename(argv[0]), *map(str, argv[1:3])])
        raise BenchmarkError(
            f"{command} ... exited with status {process.returncode}: {lines[-1].strip()}"
        )
    return elapsed, usage.ru_maxrss * 1024  # KiB on Linux
