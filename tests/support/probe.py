"""The broker tests' `probe` fixture: a `ProbeCollector` set up with its own channel and files.

The collector itself is `tests/support/collectors/probe.py`; the tests run it
as a real process (`stateful-collectors run tests.support.collectors.probe:ProbeCollector`)
and read or write its state in this process, the collector's own way.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.collectors import probe as probe_module
from tests.support.processes import CliRun, run_cli, start_cli

__all__ = ["Probe", "probe"]


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
        self.target = f"{probe_module.__name__}:{class_name}"
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
        cls = getattr(probe_module, self.class_name)
        with cls(config_file=str(self.config())) as collector:
            collector.save_state(state)
        return self.state_path.read_bytes()

    def load_state(self) -> Any:
        cls = getattr(probe_module, self.class_name)
        with cls(config_file=str(self.config())) as collector:
            return collector.load_state()


@pytest.fixture
def probe(tmp_path: Path, broker: Any) -> Probe:
    """A ProbeCollector set-up with a unique channel and routing key."""
    return Probe(tmp_path, broker)
