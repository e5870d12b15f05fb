"""Fixtures shared by every test: a demo feed on a free port, a private state dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stateful_collectors.demo_feed import DemoFeed, FeedServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def feed_server():
    """A demo feed with 5 items, served on a free loopback port."""
    with DemoFeed(history=5, start="2026-11-27T20:00:00Z").serve() as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty state dir with the mode a collector expects (0700)."""
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    return path


pytest_plugins = ["broker_support"]

__all__ = ["ROOT", "FeedServer"]
