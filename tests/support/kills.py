"""Killing a collector's runs at random moments, and counting what reached the queue after.

The kill tests (tests/reliability/test_checkpoint_kills.py, and
test_several_hosts_kills.py for a state shared in PostgreSQL) start run after
run of a checkpointing collector as real processes and SIGKILL each at a
random moment. `KillTiming` chooses the moment: the first run is not killed
but timed (from its start to its fetch, and from its fetch to its end); then
each kill lands either before the fetch (a share of them) or anywhere between
the fetch and the end, a window that shrinks when runs keep finishing first.
`tally()` reads back what the runs delivered.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stateful_collectors.demo import DemoFeed

__all__ = ["FetchWatchingFeed", "KillTiming", "Outcome", "Tally", "tally"]


class FetchWatchingFeed:
    """The demo feed, served over HTTP, telling the test when a run has fetched it."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.feed = DemoFeed(history=backlog, start="2026-11-27T00:00:00Z")
        self.fetched = threading.Event()
        serve_items = self.feed.items

        def items_and_signal(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            found = serve_items(*args, **kwargs)
            self.fetched.set()
            return found

        self.feed.items = items_and_signal  # the HTTP handler calls feed.items()
        self.server = self.feed.serve()

    def top_up(self, published_up_to: int) -> None:
        """Add items until `backlog` of them are newer than `published_up_to`."""
        missing = published_up_to + self.backlog - len(self.feed)
        if missing > 0:
            self.feed.add(missing)


@dataclasses.dataclass
class Outcome:
    """How one run ended: killed, or finished first with `returncode`."""

    killed: bool
    returncode: int | None = None


class KillTiming:
    """When to kill each run: measured on a first run, then at random (see the module)."""

    def __init__(self, rng: random.Random, early_share: float, fetched: threading.Event) -> None:
        self.rng = rng
        self.early_share = early_share
        self.fetched = fetched
        self.startup: float | None = None  # seconds from a run's start to its fetch
        self.window: float | None = None  # seconds from its fetch to its end

    @property
    def measured(self) -> bool:
        return self.window is not None

    def measure(self, process: subprocess.Popen[bytes], started: float, explain: str) -> None:
        """Let the first run finish, timing it; `explain` goes into a failure's message."""
        assert self.fetched.wait(30), explain
        fetched_at = time.monotonic()
        self.startup = fetched_at - started
        assert process.wait(timeout=60) == 0, explain
        self.window = time.monotonic() - fetched_at

    def kill_at_random(self, process: subprocess.Popen[bytes]) -> Outcome | None:
        """SIGKILL `process` at a random moment; `None` if it never fetched (see `fetched`)."""
        assert self.startup is not None and self.window is not None, "measure() first"
        if self.rng.random() < self.early_share:
            fetched_at = None
            delay = self.rng.uniform(0, self.startup)
        else:
            if not self.fetched.wait(30):
                return None
            fetched_at = time.monotonic()
            delay = self.rng.uniform(0, self.window)
        try:
            returncode = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return Outcome(killed=True)
        if fetched_at is not None:  # it finished first: aim the next kills within less time
            self.window = 0.8 * self.window + 0.2 * 0.8 * (time.monotonic() - fetched_at)
        return Outcome(killed=False, returncode=returncode)


@dataclasses.dataclass
class Tally:
    """What the runs delivered: each item seen, and what each run published again."""

    ids_seen: set[int]
    repeats_per_run: list[int]
    """Per run, in order: the messages it published that an earlier run had published."""


def tally(
    delivered: Sequence[Any], pids: Iterable[int], expected: Mapping[int, dict[str, Any]]
) -> Tally:
    """Check each delivered message against the feed's items and count the repeats per run.

    Each message's body is an item of `expected` (by id), and its `pid` header
    names the run that published it; no run may publish one item twice, and
    no message may come from a process the test did not start.
    """
    by_run: dict[int, list[str]] = collections.defaultdict(list)
    ids_seen = set()
    for message in delivered:
        item = json.loads(message.body)
        assert expected[item["id"]] == item
        ids_seen.add(item["id"])
        by_run[message.properties.headers["pid"]].append(message.properties.message_id)
    seen_before: set[str] = set()
    repeats = []
    for pid in pids:
        ids = by_run.pop(pid, [])
        assert len(ids) == len(set(ids)), "a run published one item twice"
        repeats.append(sum(1 for message_id in ids if message_id in seen_before))
        seen_before.update(ids)
    assert not by_run, "messages from processes the test did not start"
    return Tally(ids_seen, repeats)
