"""Fixtures of the broker tests (the `broker` fixture itself is in tests/broker_support.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amqp_helpers import Probe


@pytest.fixture
def probe(tmp_path: Path, broker: Any) -> Probe:
    """A ProbeCollector set-up with a unique channel and routing key."""
    return Probe(tmp_path, broker)
