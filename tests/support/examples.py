"""The guide's example collectors, run the way the guide runs them, against the demo feed.

A `CollectorExample` says what the guide says a collector of `examples/`
does: its file, class, config file, the routing key it publishes under,
whether it keeps a state, whether it stays quiet when nothing is new.
`check_runs_as_the_guide_says()` runs it as
`stateful-collectors run examples/FILE.py:CLASS --config collector.conf`,
in a private working directory (the config files use relative paths), two or
three times against a real demo feed, and checks what was published and what
state was saved after every run.

The `sink` fixture runs each test twice: once with the JSON Lines outbox and
once with a real RabbitMQ broker (the `broker` fixture). tests/conftest.py
registers this module, for its `workdir` and `sink` fixtures.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.sinks.outbox import read_outbox
from tests.support import EXAMPLES
from tests.support.processes import CliRun, run_cli

__all__ = [
    "CollectorExample",
    "OutboxSink",
    "RabbitSink",
    "Sink",
    "check_runs_as_the_guide_says",
    "run_collector",
    "saved_state",
    "sink",
    "workdir",
]


@dataclasses.dataclass(frozen=True)
class CollectorExample:
    """One collector of `examples/` and what the guide says it does."""

    file: str
    cls: str
    config: str
    section: str
    channel: str
    stateful: bool = True
    quiet: bool = False
    """Publishes nothing (rather than an empty list) when nothing is new."""

    @property
    def source(self) -> str:
        return f"{self.section.replace('_', '-')}.{self.channel}"

    @property
    def state_file(self) -> str:
        return f"state/{Path(self.file).stem}.{self.cls}.pickle"

    def __str__(self) -> str:
        return self.cls


class Sink:
    """Where a run publishes, and how the test reads back what it published."""

    name = ""

    def config_text(self, example: CollectorExample, feed_port: int) -> str:
        text = (EXAMPLES / example.config).read_text()
        return text.replace("127.0.0.1:8808", f"127.0.0.1:{feed_port}")

    def take(self, count: int) -> list[tuple[str, dict, bytes]]:
        raise NotImplementedError


class OutboxSink(Sink):
    name = "outbox"

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "outbox.jsonl"
        self.seen = 0

    def take(self, count: int) -> list[tuple[str, dict, bytes]]:
        messages = read_outbox(self.path)[self.seen :] if self.path.exists() else []
        self.seen += len(messages)
        return [(m.routing_key, dict(m.properties), m.body) for m in messages]


class RabbitSink(Sink):
    name = "rabbitmq"

    def __init__(self, broker, queue: str) -> None:
        self.broker = broker
        self.queue = queue

    def config_text(self, example: CollectorExample, feed_port: int) -> str:
        own = EXAMPLES / example.config.replace(".conf", ".rabbitmq.conf")
        if own.exists():
            text = own.read_text().replace("127.0.0.1:8808", f"127.0.0.1:{feed_port}")
            return re.sub(r"(?m)^port = 5672$", f"port = {self.broker.port}", text)
        return super().config_text(example, feed_port) + f"\n[rabbitmq]\nurl = {self.broker.url}\n"

    def take(self, count: int) -> list[tuple[str, dict, bytes]]:
        delivered = self.broker.drain(self.queue, expect=count, timeout=10)
        taken = []
        for message in delivered:
            properties = {
                "message_id": message.properties.message_id,
                "type": message.properties.type,
                "delivery_mode": message.properties.delivery_mode,
            }
            taken.append((message.routing_key, properties, message.body))
        return taken


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The collector's working directory (the config's relative paths start here)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture(params=["outbox", "rabbitmq"])
def sink(request: pytest.FixtureRequest, workdir: Path) -> Sink:
    """The outbox in `workdir`, then a fresh queue of the session's broker."""
    if request.param == "outbox":
        return OutboxSink(workdir)
    broker = request.getfixturevalue("broker")
    queue = request.getfixturevalue("bound_queue")("#")
    return RabbitSink(broker, queue)


def run_collector(example: CollectorExample, workdir: Path) -> CliRun:
    """`stateful-collectors run examples/FILE.py:CLASS --config collector.conf` in `workdir`."""
    target = f"{EXAMPLES / example.file}:{example.cls}"
    return run_cli("run", target, "--config", "collector.conf", cwd=workdir, timeout=60)


def saved_state(workdir: Path, example: CollectorExample) -> Any:
    with open(workdir / example.state_file, "rb") as file:
        return pickle.load(file)


def check_runs_as_the_guide_says(
    example: CollectorExample, sink: Sink, feed_server: Any, workdir: Path
) -> None:
    """Run `example` against a 5-item feed, then 2 new items, then nothing new; check each run."""
    (workdir / "collector.conf").write_text(sink.config_text(example, feed_server.port))
    feed = feed_server.feed
    assert len(feed) == 5

    def run_and_take(expected_messages: int) -> list[list[int]]:
        result = run_collector(example, workdir)
        assert result.returncode == 0, result.stderr
        summary = result.stderr.strip().splitlines()[-1]
        assert summary.startswith(f"{example.cls}: ok: published {expected_messages} message(s)")
        messages = sink.take(expected_messages)
        assert len(messages) == expected_messages, messages
        ids = []
        for routing_key, properties, body in messages:
            assert routing_key == example.source
            assert properties["message_id"] == message_id_for(example.source, body)
            assert properties["type"] == "stream"
            if sink.name == "rabbitmq":
                assert properties["delivery_mode"] == 2  # persistent
            ids.append([item["id"] for item in json.loads(body)])
        return ids

    # First run: everything in the feed.
    assert run_and_take(1) == [[1, 2, 3, 4, 5]]
    if example.stateful:
        assert saved_state(workdir, example) == {"last_utc": "2026-11-27T20:04:00Z"}
    else:
        assert not (workdir / "state").exists()

    # Two new items; second run.
    feed.add(2)
    if example.stateful:
        assert run_and_take(1) == [[6, 7]]
        assert saved_state(workdir, example) == {"last_utc": "2026-11-27T20:06:00Z"}
    else:
        assert run_and_take(1) == [[1, 2, 3, 4, 5, 6, 7]]  # no state: the whole feed again
        return

    # Nothing new: the seed's collector publishes an empty list, the quiet one nothing.
    if example.quiet:
        assert run_and_take(0) == []
    else:
        assert run_and_take(1) == [[]]
    assert saved_state(workdir, example) == {"last_utc": "2026-11-27T20:06:00Z"}
