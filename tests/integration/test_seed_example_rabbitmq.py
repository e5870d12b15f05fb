"""The seed's MyStatefullCollector, unchanged, against a real RabbitMQ and the demo feed."""

from __future__ import annotations

import json
import os

import pytest
from amqp_helpers import ROOT, run_cli
from my_statefull_collector import MyStatefullCollector

from stateful_collectors.collectors.base import message_id_for

pytestmark = pytest.mark.broker

EXAMPLE = "examples/my_statefull_collector.py:MyStatefullCollector"
ROUTING_KEY = "my-statefull-collector.example-channel"


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
