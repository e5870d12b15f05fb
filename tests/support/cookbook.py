"""The Cookbook's recipes (examples/), run as real processes against the demo feed's sources.

`served_cookbook(**options)` serves a demo feed (5 items from
2026-11-27T20:00:00Z, as the pages' feed) with its cookbook sources, in this
process, so a test can change them and count their requests directly.
`Recipe` is one recipe's program with its config file (the one of examples/,
pointed at that feed, with options changed as the test asks) in a working
directory of its own: `run()` runs `python examples/NAME.py --config NAME.conf`
there, as the page does with `stateful-collectors run`, and hands back the
exit status, stderr and the messages that run added to the outbox; `state()`
reads its JSON state, `show()` runs `stateful-collectors state show`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stateful_collectors.demo.cookbook import CookbookSources
from stateful_collectors.demo.feed import DemoFeed, FeedServer
from stateful_collectors.sinks.outbox import OutboxMessage, read_outbox
from tests.support import EXAMPLES, clean_env
from tests.support.processes import CliRun, run_cli

__all__ = ["Recipe", "Ran", "served_cookbook"]

START = "2026-11-27T20:00:00Z"


@contextlib.contextmanager
def served_cookbook(history: int = 5, **options: Any) -> Iterator[FeedServer]:
    """A demo feed and its cookbook sources (`token`, `page_size`, `rate_limit`), served."""
    feed = DemoFeed(history=history, start=START)
    with feed.serve(cookbook=CookbookSources(feed.start, **options)) as server:
        yield server


class Ran:
    """What one run of a recipe did."""

    def __init__(self, returncode: int, stderr: str, messages: list[OutboxMessage]) -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.messages = messages

    @property
    def summary(self) -> str:
        """The run's last stderr line (its summary line)."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    def bodies(self) -> list[Any]:
        return [json.loads(message.body) for message in self.messages]

    def __repr__(self) -> str:
        return f"<Ran {self.returncode}: {self.stderr.strip()}>"


class Recipe:
    """One recipe of examples/ in a working directory, pointed at a served feed."""

    def __init__(
        self, stem: str, cls: str, workdir: Path, server: FeedServer, **options: Any
    ) -> None:
        self.stem = stem
        self.cls = cls
        self.workdir = workdir
        self.program = EXAMPLES / f"{stem}.py"
        self.config = workdir / f"{stem}.conf"
        self.outbox = workdir / "outbox.jsonl"
        self.state_file = workdir / "state" / f"{stem}.{cls}.json"
        self._seen = 0
        text = (EXAMPLES / f"{stem}.conf").read_text()
        text = text.replace("127.0.0.1:8808", f"127.0.0.1:{server.port}")
        self.config.write_text(text)
        self.set(**options)

    def set(self, **options: Any) -> None:
        """Set options in the config file: the line of that name, else a new line in the
        first section."""
        text = self.config.read_text()
        for name, value in options.items():
            line = f"{name} = {value}"
            pattern = re.compile(rf"(?m)^#?\s*{re.escape(name)}\s*=.*$")
            if pattern.search(text):
                text = pattern.sub(line.replace("\\", "\\\\"), text, count=1)
            else:
                text = re.sub(r"(?m)^(\[[^\]]+\]\n)", rf"\g<1>{line}\n", text, count=1)
        self.config.write_text(text)

    def env(self, **extra: str | None) -> dict[str, str]:
        return clean_env(PYTHONPATH=str(EXAMPLES), **extra)

    def start(self, *args: str, **env: str | None) -> subprocess.Popen[str]:
        """Start `python examples/NAME.py --config NAME.conf ARGS`; the caller waits."""
        return subprocess.Popen(
            [sys.executable, str(self.program), "--config", self.config.name, *args],
            cwd=self.workdir,
            env=self.env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, timeout: float = 60, **env: str | None) -> Ran:
        """Run the program to its end; the messages it added to the outbox."""
        process = self.start(*args, **env)
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            raise AssertionError(f"{self.stem} ran for more than {timeout:g} s: {stderr}") from None
        return Ran(process.returncode, stderr, self.new_messages())

    def new_messages(self) -> list[OutboxMessage]:
        """The outbox's messages since the last call."""
        messages = read_outbox(self.outbox) if self.outbox.exists() else []
        new, self._seen = messages[self._seen :], len(messages)
        return new

    def all_messages(self) -> list[OutboxMessage]:
        return read_outbox(self.outbox) if self.outbox.exists() else []

    def state(self) -> Any:
        """The saved state (JSON), or `None` before the first save."""
        if not self.state_file.exists():
            return None
        return json.loads(self.state_file.read_text())

    def state_stamp(self) -> tuple[bytes, int, int] | None:
        """The state file's bytes, inode and mtime: a save, even of the same state, changes it."""
        if not self.state_file.exists():
            return None
        info = os.stat(self.state_file)
        return self.state_file.read_bytes(), info.st_ino, info.st_mtime_ns

    def show(self) -> CliRun:
        """`stateful-collectors state show NAME:CLASS --config NAME.conf`."""
        target = f"{self.stem}:{self.cls}"
        return run_cli(
            "state",
            "show",
            target,
            "--config",
            self.config.name,
            cwd=self.workdir,
            env=self.env(),
        )


def wait_until(condition: Any, timeout: float = 30, interval: float = 0.002) -> bool:
    """Poll `condition()` until it is true (`True`) or `timeout` seconds pass (`False`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
