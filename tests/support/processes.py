"""The command line and the example programs, run as real processes, and what tests check of them.

* `CLI`: the `stateful-collectors` command of this environment; `run_cli()`
  runs it to its end (a `CliRun`), `start_cli()` starts it and hands back the
  process. Both run from the repository root, so a collector under tests/ is
  named `tests.support.collectors.cli:Counter`, in a `clean_env()`.
* `run_example(program, config_file, outbox)`: `python examples/PROGRAM.py
  --config FILE`, publishing to an outbox file (never to a broker).
* `kill_the_rest()`: the cleanup of a test that started several processes.
* `wait_for_file()`, `free_port()`, `assert_one_clear_line()`: waiting for a
  process to reach a point, a port nobody listens on, and the check that a
  failed run ended with one clear line on stderr.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, clean_env

_CLI = Path(sys.executable).with_name("stateful-collectors")
CLI = [str(_CLI)] if _CLI.exists() else [sys.executable, "-m", "stateful_collectors.command.cli"]
"""The `stateful-collectors` command of this environment."""

__all__ = [
    "CLI",
    "CliRun",
    "assert_one_clear_line",
    "free_port",
    "kill_the_rest",
    "run_cli",
    "run_example",
    "start_cli",
    "wait_for_file",
]


@dataclasses.dataclass
class CliRun:
    """What one `stateful-collectors` process did."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_cli(
    *args: str, timeout: float = 120, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> CliRun:
    """Run `stateful-collectors ARGS` to its end (from the repository root by default)."""
    started = time.monotonic()
    result = subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def start_cli(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """Start `stateful-collectors ARGS`; the caller waits for it (or kills it)."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_example(program: Path, config_file: Path, outbox: Path) -> subprocess.CompletedProcess[str]:
    """`python PROGRAM --config CONFIG_FILE`, its messages in `outbox` (never a broker's)."""
    return subprocess.run(
        [sys.executable, str(program), "--config", str(config_file)],
        capture_output=True,
        text=True,
        env=clean_env(STATEFUL_COLLECTORS_OUTBOX=str(outbox)),
        timeout=60,
        check=False,
    )


def wait_for_file(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until `path` exists; fail early (with its stderr) if `process` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"the collector ended ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path.name} did not appear within {timeout:g} s")
        time.sleep(0.02)


def kill_the_rest(processes: Iterable[subprocess.Popen[Any]]) -> None:
    """Kill and reap those of `processes` still running (a test's cleanup, however it ended)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def free_port() -> int:
    """A loopback TCP port nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_clear_line(run: CliRun | Any, *expected: str) -> str:
    """Exit status 1, exactly one stderr line, no traceback, containing each of `expected`."""
    stderr = run.stderr if isinstance(run.stderr, str) else ""
    lines = stderr.splitlines()
    assert run.returncode == 1, f"exit status {run.returncode}; stderr: {stderr}"
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    print(lines[0])  # shown by `pytest -rP`: the line a user would read
    for text in expected:
        assert text in lines[0], f"{text!r} not in: {lines[0]}"
    return lines[0]
