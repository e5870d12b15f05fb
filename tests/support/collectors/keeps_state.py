"""`KeepsState`, the smallest stateful collector: it only loads and saves its state.

The reliability tests use it in-process, to save and load real state files
under every kind of failure (kills, full disks, failing I/O, power cuts).
"""

from __future__ import annotations

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
