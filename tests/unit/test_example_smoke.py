"""The complete example runs twice against the demo feed and publishes only new items."""

from __future__ import annotations

import json

from my_statefull_collector import MyStatefullCollector

from stateful_collectors.testing import collect, make_config


def test_second_run_publishes_only_new_items(feed_server, state_dir):
    config = make_config(
        "my_statefull_collector", state_dir=state_dir, url=f"{feed_server.url}/items.json"
    )
    first = collect(MyStatefullCollector, config)
    assert [item["id"] for item in first.json_bodies()[0]] == [1, 2, 3, 4, 5]
    assert first.state == {"last_utc": "2026-11-27T20:04:00Z"}

    feed_server.feed.add(2)
    second = collect(MyStatefullCollector, config)
    assert [item["id"] for item in second.json_bodies()[0]] == [6, 7]
    assert second.state == {"last_utc": "2026-11-27T20:06:00Z"}
    assert json.loads(second.messages[0].body)[0]["title"] == "Demo advisory 6"
