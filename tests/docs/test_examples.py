"""The guide's example programs, run as real processes against the demo feed.

Each collector in `examples/` is run the way the guide runs it,
`stateful-collectors run examples/FILE.py:CLASS --config FILE.conf`, in a
private working directory (the config files use relative paths), twice or
more, against a real demo feed on a free port, once with the JSON Lines outbox
and once with a real RabbitMQ broker (the `broker` fixture). The tests assert
what was published and what state was saved after every run.

`print_messages.py`, the guide's message viewer, is run on an outbox and on a
queue. `EXAMPLE_PROGRAMS` lists every program tested here: a page may include
(pymdownx.snippets) only those, and `test_docs.py` checks that it does.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pika
import pytest

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.sinks.outbox import read_outbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
COMMAND = Path(sys.executable).with_name("stateful-collectors")
START = "2026-11-27T20:00:00Z"


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


COLLECTORS = [
    CollectorExample(
        "first_collector.py",
        "FirstCollector",
        "first_collector.conf",
        "first_collector",
        "items",
        stateful=False,
    ),
    CollectorExample(
        "my_statefull_collector.py",
        "MyStatefullCollector",
        "my_statefull_collector.conf",
        "my_statefull_collector",
        "example-channel",
    ),
    CollectorExample(
        "quiet_collector.py",
        "QuietCollector",
        "my_statefull_collector.conf",
        "my_statefull_collector",
        "example-channel",
        quiet=True,
    ),
]

EXAMPLES_TESTED_ELSEWHERE = {
    "time_ordered_rows_collector.py": "tests/unit/test_rows.py",
    "checkpoint_collector.py": "tests/reliability/test_checkpoint_kills.py",
    "migration_collector.py": "tests/unit/test_migrations.py",
    "crash_collector.py": "tests/reliability/test_crash_collector_example.py",
    "testing_demo.py": "tests/unit/test_testing_demo_example.py",
}
"""Programs whose own tests run them as processes against the demo feed (file -> test)."""

EXAMPLE_PROGRAMS = (
    {example.file for example in COLLECTORS}
    | {"print_messages.py"}
    | set(EXAMPLES_TESTED_ELSEWHERE)
)
"""The programs of `examples/` run here (or by the tests named above); pages include only these."""


@pytest.mark.parametrize("program", sorted(EXAMPLES_TESTED_ELSEWHERE))
def test_programs_tested_elsewhere_are_run_there(program):
    test_file = ROOT / EXAMPLES_TESTED_ELSEWHERE[program]
    assert (EXAMPLES / program).is_file()
    assert f'"{program}"' in test_file.read_text(), f"{test_file} does not run {program}"


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
def sink(request, workdir):
    if request.param == "outbox":
        return OutboxSink(workdir)
    broker = request.getfixturevalue("broker")
    queue = request.getfixturevalue("bound_queue")("#")
    return RabbitSink(broker, queue)


def run_collector(example: CollectorExample, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(COMMAND),
            "run",
            f"{EXAMPLES / example.file}:{example.cls}",
            "--config",
            "collector.conf",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def saved_state(workdir: Path, example: CollectorExample):
    with open(workdir / example.state_file, "rb") as file:
        return pickle.load(file)


@pytest.mark.parametrize("example", COLLECTORS, ids=str)
def test_collector_example_runs_as_the_guide_says(example, sink, feed_server, workdir):
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


def test_print_messages_reads_an_outbox(feed_server, workdir):
    config = OutboxSink(workdir).config_text(COLLECTORS[1], feed_server.port)
    (workdir / "collector.conf").write_text(config)
    assert run_collector(COLLECTORS[1], workdir).returncode == 0
    feed_server.feed.add(2)
    assert run_collector(COLLECTORS[1], workdir).returncode == 0
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "print_messages.py"), "outbox.jsonl"],
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
            [sys.executable, str(EXAMPLES / "print_messages.py"), broker.url],
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
