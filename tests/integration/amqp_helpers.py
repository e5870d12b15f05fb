"""Helpers for the broker tests: run collectors as real processes, set up the probe.

(A module of its own rather than conftest.py, so test modules import it by a
name no other test directory uses.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROBE_FILE = HERE / "probe_collector.py"

_CLI = Path(sys.executable).with_name("stateful-collectors")
CLI = [str(_CLI)] if _CLI.exists() else [sys.executable, "-m", "stateful_collectors.cli"]
"""The `stateful-collectors` command of this environment."""

_LEAKY_ENV = (
    "STATEFUL_COLLECTORS_AMQP_URL",
    "STATEFUL_COLLECTORS_OUTBOX",
    "STATEFUL_COLLECTORS_CONFIG",
)


def cli_env() -> dict[str, str]:
    """This process's environment without the variables that would redirect a collector."""
    return {name: value for name, value in os.environ.items() if name not in _LEAKY_ENV}


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


def run_cli(*args: str, timeout: float = 120) -> CliRun:
    """Run `stateful-collectors ARGS` to its end."""
    started = time.monotonic()
    result = subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start `stateful-collectors ARGS`; the caller waits for it (or kills it)."""
    return subprocess.Popen(
        [*CLI, *args],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


def _load_probe_module() -> Any:
    name = "probe_collector"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROBE_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class Probe:
    """One test's ProbeCollector: its own channel, state dir, config files."""

    def __init__(self, tmp_path: Path, broker: Any, class_name: str = "ProbeCollector") -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.class_name = class_name
        self.channel = broker.unique_name("ch")
        self.routing_key = f"probe.{self.channel}"
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.target = f"{PROBE_FILE.relative_to(ROOT)}:{class_name}"
        self._configs = 0

    @property
    def state_path(self) -> Path:
        return self.state_dir / f"probe-{self.channel}.pickle"

    def config(self, rabbitmq_url: str | None = None, **options: Any) -> Path:
        """Write a config file (the probe's section and `[rabbitmq] url`); return its path."""
        self._configs += 1
        path = self.tmp_path / f"probe-{self._configs}.conf"
        lines = ["[probe]", f"state_dir = {self.state_dir}", f"channel = {self.channel}"]
        lines += [f"{name} = {value}" for name, value in options.items()]
        lines += ["", "[rabbitmq]", f"url = {rabbitmq_url or self.broker.url}"]
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, config: Path, timeout: float = 120) -> CliRun:
        return run_cli("run", self.target, "--config", str(config), timeout=timeout)

    def start(self, config: Path) -> subprocess.Popen[str]:
        return start_cli("run", self.target, "--config", str(config))

    def save_state(self, state: Any) -> bytes:
        """Save `state` the collector's own way (in this process); return the file's bytes."""
        cls = getattr(_load_probe_module(), self.class_name)
        with cls(config_file=str(self.config())) as collector:
            collector.save_state(state)
        return self.state_path.read_bytes()

    def load_state(self) -> Any:
        cls = getattr(_load_probe_module(), self.class_name)
        with cls(config_file=str(self.config())) as collector:
            return collector.load_state()
