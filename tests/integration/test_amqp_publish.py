"""Collectors publish to a real RabbitMQ; a separate pika consumer reads what arrived."""

from __future__ import annotations

import json
import time

import pytest

from stateful_collectors.collectors.base import message_id_for
from tests.support.probe import Probe

pytestmark = pytest.mark.broker


def test_messages_arrive_with_bodies_routing_keys_and_properties(probe: Probe, bound_queue):
    queue = bound_queue(probe.routing_key)
    before = int(time.time())

    run = probe.run(probe.config(count=3))

    after = int(time.time())
    assert run.returncode == 0, run.stderr
    summary = run.stderr_lines[-1]
    assert "ok: published 3 message(s) to rabbitmq amqp://guest@" in summary
    assert f"state saved to {probe.state_path}" in summary
    delivered = probe.broker.drain(queue)
    assert [json.loads(message.body)["n"] for message in delivered] == [1, 2, 3]
    source = f"probe.{probe.channel}"
    for message in delivered:
        props = message.properties
        assert message.exchange == "raw"
        assert message.routing_key == source
        assert props.message_id == message_id_for(source, message.body)
        assert props.type == "stream"
        assert props.delivery_mode == 2
        assert before <= props.timestamp <= after
        assert not props.headers  # an empty table: pika reads it back as {} or None
        assert props.content_type is None
    assert probe.load_state() == {"next": 4}


def test_message_ids_are_deterministic_and_a_second_run_publishes_only_new_items(
    probe: Probe, bound_queue
):
    queue = bound_queue(probe.routing_key)
    config = probe.config(count=2)

    assert probe.run(config).returncode == 0
    assert probe.run(config).returncode == 0

    delivered = probe.broker.drain(queue)
    assert [json.loads(message.body)["n"] for message in delivered] == [1, 2, 3, 4]
    ids = [message.properties.message_id for message in delivered]
    assert len(set(ids)) == 4
    body = json.dumps({"n": 3, "channel": probe.channel}).encode()
    assert ids[2] == message_id_for(f"probe.{probe.channel}", body)


def test_file_collector_sends_its_content_type(tmp_path, broker, bound_queue):
    probe = Probe(tmp_path, broker, "ProbeFileCollector")
    queue = bound_queue(probe.routing_key)

    run = probe.run(probe.config(count=1))

    assert run.returncode == 0, run.stderr
    (message,) = broker.drain(queue)
    assert message.body == f"n,channel\r\n1,{probe.channel}\r\n".encode()
    assert message.properties.type == "file"
    assert message.properties.content_type == "text/csv"
    assert message.properties.delivery_mode == 2


def test_confirmed_messages_survive_a_broker_restart(probe: Probe, bound_queue):
    queue = bound_queue(probe.routing_key)
    run = probe.run(probe.config(count=20))
    assert run.returncode == 0, run.stderr

    probe.broker.restart()

    delivered = probe.broker.drain(queue)
    assert [json.loads(message.body)["n"] for message in delivered] == list(range(1, 21))
    assert all(message.properties.delivery_mode == 2 for message in delivered)
    assert all(message.properties.type == "stream" for message in delivered)


@pytest.mark.slow
def test_a_long_download_before_publishing_keeps_the_connection_alive(probe: Probe, bound_queue):
    # heartbeat=2: the broker drops a connection that stays silent for about 4 s. The
    # collector "downloads" for 7 s inside start_publishing() before its first publish;
    # the sink's keeper thread must keep the heartbeats going meanwhile.
    queue = bound_queue(probe.routing_key)
    url = probe.broker.url_for("guest", "guest", heartbeat=2)

    run = probe.run(probe.config(url, count=2, idle_before_publish=7))

    assert run.returncode == 0, run.stderr
    assert [json.loads(message.body)["n"] for message in probe.broker.drain(queue)] == [1, 2]


def test_publishing_waits_for_the_socket_instead_of_buffering_every_frame(
    broker, bound_queue, monkeypatch
):
    # A run that publishes faster than the broker takes messages must not hold them all in
    # memory: past a cap, publish() serves the connection until pika's buffer drains. With
    # the broker's memory alarm on, it stops reading the socket: publish() then waits at the
    # cap, and fails when blocked_connection_timeout passes, instead of buffering 20 MB.
    from stateful_collectors.errors import PublishError
    from stateful_collectors.sinks import Exchange, amqp

    cap = 64 * 1024
    monkeypatch.setattr(amqp, "_MAX_BUFFERED_BYTES", cap)
    bound_queue("bench.flow", exchange="flow-control")
    sink = amqp.AmqpSink.from_url(broker.url_for("guest", "guest", blocked_connection_timeout=2))
    sink.open([Exchange("flow-control")])
    body = b"x" * 1024
    largest = published = 0
    try:
        with broker.memory_alarm(), pytest.raises(PublishError, match="blocked the connection"):
            for number in range(20_000):
                sink.publish("flow-control", "bench.flow", body, {"message_id": str(number)})
                published += 1
                largest = max(largest, sink._buffered_bytes())
            sink.confirm_all()
    finally:
        sink.close()
    # At most the cap plus one batch of publishes between two checks (256 x ~1.1 KiB).
    assert largest <= cap + 256 * 1200, largest
    assert published < 20_000  # publish() itself stopped, at the cap
