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


def test_print_messages_describes_items_text_and_anything_else(tmp_path):
    """Feed items by id; a text body (a CSV file's rows) by its lines; other bytes by size."""
    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.outbox import OutboxSink as Outbox

    csv_rows = b"2026-11-27T20:02:00Z,host-3.example.net,low\n\n2026-11-27T20:01:00Z,h,x"
    messages = [
        (b'{"id": 7, "title": "x"}', None),
        (b'[{"id": 1}, {"id": 2}]', None),
        (b"[]", None),
        (csv_rows, "text/csv"),
        (b"host-1\n", None),
        (b'[{"url": "http://a.example/"}]', "application/json"),
        (b"\xff\xfe\x00", None),
    ]
    outbox = Outbox(tmp_path / "outbox.jsonl")
    outbox.open([Exchange("raw")])
    for body, content_type in messages:
        properties = {"message_id": "0123456789abcdef"}
        if content_type:
            properties["content_type"] = content_type
        outbox.publish("raw", "demo.items", body, properties)
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
        "demo.items: 2 lines of text/csv (message id 01234567...)",
        "demo.items: 1 line of text (message id 01234567...)",
        "demo.items: 1 line of application/json (message id 01234567...)",
        "demo.items: 3 bytes (message id 01234567...)",
    ]
