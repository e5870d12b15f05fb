"""One collector written three ways ("Coming from n6"), run as processes: the same messages out.

`examples/three_ways_page_style.py` (n6's original page), `three_ways_n6_style.py`
(n6 4.x) and `three_ways_library_style.py` (this library's recommended style)
collect the demo feed's `/items.json`. `check_same_messages()` runs one of
them three times as a process (`stateful-collectors run`, or the command a
caller gives), against a 5-item feed, after 2 new items, and with nothing new,
and checks each run's messages against what the feed holds, byte for byte:
the routing key `demo-feed.items`, a body that is the JSON array of the new
items, the deterministic message id. Every version is held to these same
expectations, so they publish the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stateful_collectors.collectors.base import message_id_for
from tests.support.examples import CollectorExample, Sink, run_collector
from tests.support.processes import CliRun

__all__ = ["ROUTING_KEY", "THREE_WAYS", "check_same_messages"]

ROUTING_KEY = "demo-feed.items"
"""What each version publishes under: the source `demo-feed.items`."""

THREE_WAYS = {
    "page": CollectorExample(
        "three_ways_page_style.py", "DemoFeedCollector", "three_ways_page_style.conf",
        "demo_feed", "items",
    ),
    "n6": CollectorExample(
        "three_ways_n6_style.py", "DemoFeedCollector", "three_ways_n6_style.conf",
        "DemoFeedCollector", "items",
    ),
    "library": CollectorExample(
        "three_ways_library_style.py", "DemoFeedCollector", "three_ways_library_style.conf",
        "demo_feed", "items",
    ),
}  # fmt: skip


def check_same_messages(
    example: CollectorExample,
    sink: Sink,
    feed_server: Any,
    workdir: Path,
    run: Callable[[CollectorExample, Path], CliRun] = run_collector,
) -> str:
    """Three runs of `example` (all, 2 new, none); each run's messages checked; a summary line."""
    (workdir / "collector.conf").write_text(sink.config_text(example, feed_server.port))
    feed = feed_server.feed
    assert len(feed) == 5
    runs = []

    def run_and_check(new_items: list[dict[str, Any]]) -> None:
        result = run(example, workdir)
        assert result.returncode == 0, result.stderr
        expected = 1 if new_items else 0
        summary = result.stderr.strip().splitlines()[-1]
        # The two-phase versions publish nothing and leave the state when nothing is new;
        # the page's style publishes nothing too, and saves its (unchanged) state.
        two_phase = example is not THREE_WAYS["page"]
        outcome = (
            "ok: nothing new to publish; state unchanged"
            if two_phase and not expected
            else f"ok: published {expected} message(s)"
        )
        assert summary.startswith(f"{example.cls}: {outcome}"), summary
        messages = sink.take(expected)
        assert len(messages) == expected, messages
        for routing_key, properties, body in messages:
            assert routing_key == ROUTING_KEY
            assert body == json.dumps(new_items).encode("utf-8")
            assert properties["message_id"] == message_id_for(ROUTING_KEY, body)
            assert properties["type"] == "stream"
            if sink.name == "rabbitmq":
                assert properties["delivery_mode"] == 2  # persistent
        runs.append([item["id"] for item in new_items] if new_items else "nothing")

    run_and_check(feed.items())  # the first run: everything
    since = feed.items()[-1]["time"]
    feed.add(2)
    run_and_check(feed.items(since))  # the two new items only
    run_and_check([])  # nothing new: nothing published
    return f"{example.file} ({sink.name}): {ROUTING_KEY}: " + "; ".join(
        f"run {number}: {ids}" for number, ids in enumerate(runs, start=1)
    )
