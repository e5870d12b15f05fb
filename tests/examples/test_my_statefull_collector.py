"""examples/my_statefull_collector.py, the seed's collector, complete: the guide's centerpiece.

Run as the guide runs it (outbox and RabbitMQ), in-process with the testing
helpers, and unchanged against a real RabbitMQ with a config of its own.
"""

from __future__ import annotations

import json
import os

import pytest
from my_statefull_collector import MyStatefullCollector

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.testing import collect, make_config
from tests.support import ROOT
from tests.support.examples import CollectorExample, check_runs_as_the_guide_says
from tests.support.processes import run_cli

MY_STATEFULL_COLLECTOR = CollectorExample(
    "my_statefull_collector.py",
    "MyStatefullCollector",
    "my_statefull_collector.conf",
    "my_statefull_collector",
    "example-channel",
)
EXAMPLE = "examples/my_statefull_collector.py:MyStatefullCollector"
ROUTING_KEY = "my-statefull-collector.example-channel"


def test_runs_as_the_guide_says(sink, feed_server, workdir):
    check_runs_as_the_guide_says(MY_STATEFULL_COLLECTOR, sink, feed_server, workdir)


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


@pytest.mark.broker
def test_two_runs_publish_everything_then_only_the_new_items(
    feed_server, tmp_path, broker, bound_queue
):
    assert (ROOT / EXAMPLE.partition(":")[0]).is_file()
    queue = bound_queue(ROUTING_KEY)
    state_dir = tmp_path / "state"
    config = tmp_path / "my.conf"
    config.write_text(
        "[my_statefull_collector]\n"
        f"state_dir = {state_dir}\n"
        f"url = {feed_server.url}/items.json\n"
        "\n[rabbitmq]\n"
        f"url = {broker.url}\n"
    )

    first = run_cli("run", EXAMPLE, "--config", str(config))

    assert first.returncode == 0, first.stderr
    assert "ok: published 1 message(s) to rabbitmq" in first.stderr_lines[-1]
    (message,) = broker.drain(queue)
    assert message.routing_key == ROUTING_KEY
    assert [item["id"] for item in json.loads(message.body)] == [1, 2, 3, 4, 5]
    assert message.properties.message_id == message_id_for(ROUTING_KEY, message.body)
    assert message.properties.delivery_mode == 2
    (state_file,) = [path for path in state_dir.iterdir() if path.suffix == ".pickle"]
    assert oct(os.stat(state_file).st_mode & 0o777) == "0o600"

    feed_server.feed.add(2)
    second = run_cli("run", EXAMPLE, "--config", str(config))

    assert second.returncode == 0, second.stderr
    (message,) = broker.drain(queue)
    assert [item["id"] for item in json.loads(message.body)] == [6, 7]
    with MyStatefullCollector(config_file=str(config)) as collector:
        assert collector.load_state() == {"last_utc": "2026-11-27T20:06:00Z"}
