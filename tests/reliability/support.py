"""Helpers of the reliability tests: a small stateful collector, directory snapshots."""

from __future__ import annotations

import os
from pathlib import Path

from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.state import StatefulCollectorMixin


class KeepsState(StatefulCollectorMixin, AbstractBaseCollector):
    """The smallest stateful collector: it only loads and saves its state."""

    config_spec = """
        [keeps_state]
        state_dir :: path
    """

    def make_default_state(self):
        return {"seq": 0, "payload": b""}


def make_keeps_state(state_dir: Path) -> KeepsState:
    """A `KeepsState` whose state lives in `state_dir`."""
    return KeepsState(config_text=f"[keeps_state]\nstate_dir = {state_dir}\n")


def snapshot_files(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every regular file under `directory`: its bytes, mtime (ns) and mode."""
    found = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(directory))] = (
                path.read_bytes(),
                info.st_mtime_ns,
                info.st_mode,
            )
    return found


def temp_files(directory: Path) -> list[str]:
    """The temporary files a save leaves behind if it is cut short (`.NAME.xxxx.tmp`)."""
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))
