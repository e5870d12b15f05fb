"""examples/print_messages.py, the guide's message viewer: on an outbox, and on a queue."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pika

from tests.support import EXAMPLES
from tests.support.examples import CollectorExample, OutboxSink, run_collector

PROGRAM = EXAMPLES / "print_messages.py"

PUBLISHER = CollectorExample(
    "my_statefull_collector.py",
    "MyStatefullCollector",
    "my_statefull_collector.conf",
    "my_statefull_collector",
    "example-channel",
)
"""The collector whose outbox the viewer reads, as in the guide."""


def test_print_messages_reads_an_outbox(feed_server, workdir):
    config = OutboxSink(workdir).config_text(PUBLISHER, feed_server.port)
    (workdir / "collector.conf").write_text(config)
    assert run_collector(PUBLISHER, workdir).returncode == 0
    feed_server.feed.add(2)
    assert run_collector(PUBLISHER, workdir).returncode == 0
    result = subprocess.run(
        [sys.executable, str(PROGRAM), "outbox.jsonl"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    pattern = (
        r"my-statefull-collector\.example-channel: items {} \(message id [0-9a-f]{{8}}\.\.\.\)"
    )
    assert re.fullmatch(pattern.format("1, 2, 3, 4, 5"), lines[0])
    assert re.fullmatch(pattern.format("6, 7"), lines[1])


def test_print_messages_declares_and_drains_its_queue(broker, tmp_path):
    def print_messages() -> list[str]:
        result = subprocess.run(
            [sys.executable, str(PROGRAM), broker.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.splitlines()

    broker.delete_queue("tutorial")
    try:
        assert print_messages() == ["no messages waiting in queue 'tutorial'"]
        body = json.dumps([{"id": 8}, {"id": 9}]).encode()
        properties = pika.BasicProperties(message_id="0123456789abcdef", delivery_mode=2)
        with broker.channel() as channel:
            channel.confirm_delivery()
            channel.basic_publish("raw", "demo.items", body, properties, mandatory=True)
        assert print_messages() == ["demo.items: items 8, 9 (message id 01234567...)"]
        assert print_messages() == ["no messages waiting in queue 'tutorial'"]
    finally:
        broker.delete_queue("tutorial")


def test_print_messages_describes_one_item_a_list_and_anything_else(tmp_path):
    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.outbox import OutboxSink as Outbox

    outbox = Outbox(tmp_path / "outbox.jsonl")
    outbox.open([Exchange("raw")])
    for body in (b'{"id": 7, "title": "x"}', b'[{"id": 1}, {"id": 2}]', b"[]", b"host-1\n"):
        outbox.publish("raw", "demo.items", body, {"message_id": "0123456789abcdef"})
    outbox.confirm_all()
    outbox.close()
    result = subprocess.run(
        [sys.executable, str(PROGRAM), "outbox.jsonl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "demo.items: item 7 (message id 01234567...)",
        "demo.items: items 1, 2 (message id 01234567...)",
        "demo.items: no items (message id 01234567...)",
        "demo.items: 7 bytes (message id 01234567...)",
    ]
