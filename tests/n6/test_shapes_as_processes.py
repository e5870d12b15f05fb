"""Collectors in the shapes of n6 4.40's own, run three times as processes against local sources.

Each is run with `stateful-collectors run`, on the outbox and on RabbitMQ:
the first run publishes what n6 would publish (routing key, body, `type`,
`content_type`, headers), the second only what is new, the third, with
nothing new, nothing. Two of them also start from a state file saved by
Python 2, in n6's state dir (`~/.n6state`), under n6's file name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from tests.n6 import sources
from tests.support import ROOT, clean_env
from tests.support.processes import CliRun, run_cli

HERE = Path(__file__).parent
PY2_STATES = HERE / "py2_states"

Message = tuple[str, str, dict[str, Any], bytes]  # exchange, routing key, properties, body


class Outbox:
    name = "outbox"

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "outbox.jsonl"
        self.seen = 0

    def config(self) -> str:
        return f"\n[outbox]\npath = {self.path}\n"

    def take(self, count: int) -> list[Message]:
        messages = read_outbox(self.path)[self.seen :] if self.path.exists() else []
        self.seen += len(messages)
        return [(m.exchange, m.routing_key, _n6_properties(m.properties), m.body) for m in messages]


class Rabbit:
    name = "rabbitmq"

    def __init__(self, broker: Any, queues: dict[str, str]) -> None:
        self.broker, self.queues = broker, queues

    def config(self) -> str:
        return f"\n[rabbitmq]\nurl = {self.broker.url}\n"

    def take(self, count: int) -> list[Message]:
        taken: list[Message] = []
        for queue in self.queues.values():
            for message in self.broker.drain(queue, expect=None, timeout=0):
                props = message.properties
                properties = {
                    "type": props.type,
                    "content_type": props.content_type,
                    "headers": props.headers or {},
                    "message_id": props.message_id,
                }
                taken.append(
                    (
                        message.exchange,
                        message.routing_key,
                        _n6_properties(properties),
                        message.body,
                    )
                )
        if len(taken) < count:  # confirmed before the run ended: they are there
            pytest.fail(f"{len(taken)} message(s) in the queues, {count} expected")
        return taken


def _n6_properties(properties: Any) -> dict[str, Any]:
    """The properties n6's tests look at, `None` and empty headers left out as pika leaves them."""
    kept = {key: properties.get(key) for key in ("type", "content_type", "headers")}
    kept["headers"] = kept["headers"] or {}
    if kept["content_type"] is None:
        del kept["content_type"]
    assert len(properties["message_id"]) == 32
    return kept


@pytest.fixture(params=["outbox", "rabbitmq"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Outbox | Rabbit:
    if request.param == "outbox":
        return Outbox(tmp_path)
    bound_queue = request.getfixturevalue("bound_queue")
    queues = {"raw": bound_queue("#", "raw"), "sample": bound_queue("#", "sample")}
    return Rabbit(request.getfixturevalue("broker"), queues)


@pytest.fixture
def source():
    with sources.serving() as served:
        yield served


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The collector's home directory: n6's state dir is `~/.n6state` under it."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def run(home: Path, target: str, config: Path, *arguments: str, cwd: Path = ROOT) -> CliRun:
    result = run_cli(
        "run", target, "--config", str(config), *arguments, cwd=cwd, env=clean_env(HOME=str(home))
    )
    assert result.returncode == 0, result.stderr
    return result


# ---------------------------------------------------------------- the rows collector


def blocklist_module(workdir: Path, base: str) -> str:
    """The collector's module, copied with the source's address in its hard-wired URL."""
    text = (HERE / "shaped_blocklist.py").read_text().replace("http://127.0.0.1:8808", base)
    (workdir / "shaped_blocklist.py").write_text(text)
    return f"{workdir / 'shaped_blocklist.py'}:BlocklistCollector"


def rows_message(*rows: str) -> Message:
    body = "\n".join(rows).encode()
    return (
        "raw",
        "example-cert.blocklist.202612",
        {"type": "file", "content_type": "text/csv", "headers": {}},
        body,
    )


A, B2, C = (
    "2026-11-27 20:00:00,a.example,medium",
    "2026-11-27 20:01:00,b2.example,low",
    "2026-11-27 20:02:00,c.example,high",
)
B1 = "2026-11-27 20:01:00,b1-żółw.example,low"


def test_a_rows_collector_with_a_hard_wired_url(sink, source, home, tmp_path):
    base, served = source
    target = blocklist_module(tmp_path, base)
    config = tmp_path / "blocklist.conf"
    config.write_text("[BlocklistCollector]\n" + sink.config())
    state_file = home / ".n6state" / "shaped_blocklist.BlocklistCollector.pickle"

    first = run(home, target, config, cwd=tmp_path)
    # b2 comes before b1 in the source: rows of one time come out reversed, as in n6
    assert sink.take(1) == [rows_message(A, B1, B2, C)]
    assert first.stderr_lines[-1].endswith(f"state saved to {state_file}")

    served.add_rows("2026-11-27 20:03:00,d.example,high", "2026-11-27 20:02:00,c2.example,low")
    run(home, target, config, cwd=tmp_path)
    assert sink.take(1) == [
        rows_message("2026-11-27 20:02:00,c2.example,low", "2026-11-27 20:03:00,d.example,high")
    ]

    saved = state_file.read_bytes()
    third = run(home, target, config, cwd=tmp_path)
    assert sink.take(0) == []
    assert (
        third.stderr_lines[-1]
        == f"BlocklistCollector: ok: nothing new to publish; state unchanged in {state_file}"
    )
    assert state_file.read_bytes() == saved
    assert [request[:2] for request in served.requests] == [("GET", "/blocklist.csv")] * 3


def test_a_rows_collector_takes_over_the_state_file_python_2_saved(sink, source, home, tmp_path):
    base, _ = source
    target = blocklist_module(tmp_path, base)
    config = tmp_path / "blocklist.conf"
    config.write_text("[BlocklistCollector]\n" + sink.config())
    state_dir = home / ".n6state"
    state_dir.mkdir(mode=0o700)
    state_file = state_dir / "shaped_blocklist.BlocklistCollector.pickle"
    shutil.copy(PY2_STATES / "blocklist.pickle", state_file)

    result = run(home, target, config, cwd=tmp_path)
    # a, b1 and b2 were published by the Python 2 collector: only c is new
    assert sink.take(1) == [rows_message(C)]
    assert "loading a state pickled by Python 2" in result.stderr
    assert "WARNING" not in result.stderr.replace("WARNING stateful_collectors.state: loading", "")
    saved = StateFile(state_file).load(default=dict)
    assert saved["state"]["newest_row_time"] == "2026-11-27 20:02:00"
    assert saved["state"]["rows_count"] == 4


# ---------------------------------------------------------------- the two-phase downloader


def test_a_two_phase_downloader_posting_json(sink, source, home, tmp_path):
    base, served = source
    config = tmp_path / "entries.conf"
    config.write_text(
        f"[EntriesApiCollector]\nurl = {base}/api/entries\ntoken = {sources.TOKEN}\n"
        f"state_dir = {tmp_path / 'state'}\n" + sink.config()
    )
    target = "tests.n6.shaped:EntriesApiCollector"
    properties = {"type": "file", "content_type": "application/json", "headers": {}}

    run(home, target, config)
    entries = sorted(served.entries, key=lambda entry: entry["time"])
    assert sink.take(1) == [
        ("raw", "example-api.entries", properties, json.dumps(entries).encode())
    ]
    posted = [
        (method, path, headers["content-type"], json.loads(body))
        for method, path, headers, body in served.requests
    ]
    assert posted == [
        ("POST", "/api/entries", "application/json", {"page": 1, "per_page": 2}),
        ("POST", "/api/entries", "application/json", {"page": 2, "per_page": 2}),
    ]

    new = {"time": "2026-11-27T20:04:00", "ip": "192.0.2.4"}
    served.add_entries(new)
    run(home, target, config)
    assert sink.take(1) == [("raw", "example-api.entries", properties, json.dumps([new]).encode())]

    third = run(home, target, config)
    assert sink.take(0) == []
    assert "ok: nothing new to publish; state unchanged" in third.stderr_lines[-1]


# ---------------------------------------------------------------- the iterative publisher


def events_config(tmp_path: Path, base: str, sink: Outbox | Rabbit) -> Path:
    config = tmp_path / "events.conf"
    config.write_text(
        f"[events_local]\nsource_provider = example\napi_url = {base}\nminimum_tlp = Amber\n"
        + sink.config()
    )
    return config


def events_messages(events: list[dict], attachments: list[int]) -> list[Message]:
    meta = {"minimum_tlp": "amber"}
    messages: list[Message] = [
        (
            "raw",
            "example.events",
            {"type": "stream", "headers": {"meta": meta}},
            json.dumps(events).encode(),
        )
    ]
    for attachment in attachments:
        properties = {
            "type": "file",
            "content_type": "application/json",
            "headers": {"meta": meta | {"attachment_id": attachment}},
        }
        messages.append(
            ("sample", "example.events", properties, sources.Sources.attachment(attachment))
        )
    return messages


def test_an_iteratively_publishing_collector_with_an_argument(sink, source, home, tmp_path):
    base, served = source
    served.missing.add(12)
    config = events_config(tmp_path, base, sink)
    target = "tests.n6.shaped:EventsCollector"

    first = run(home, target, config, "events_local")
    assert sink.take(3) == events_messages(served.events, [11, 21])
    assert "attachment 12 skipped: HTTP status 404" in first.stderr  # requests.HTTPError caught
    state_file = home / ".n6state" / "tests.n6.shaped.EventsCollector.pickle"
    assert StateFile(state_file).load(default=dict) == {
        "last_event_id": 2,
        "done_attachments": set(),
    }

    event = {"id": 3, "info": "third", "attachments": [31]}
    served.add_event(event)
    run(home, target, config, "events_local")
    assert sink.take(2) == events_messages([event], [31])

    third = run(home, target, config, "events_local")
    assert sink.take(0) == []
    assert third.stderr_lines[-1].startswith("EventsCollector: ok: published 0 message(s)")


def test_an_iterative_publisher_takes_over_a_python_2_state_through_its_hooks(
    sink, source, home, tmp_path
):
    base, served = source
    config = events_config(tmp_path, base, sink)
    state_dir = home / ".n6state"
    state_dir.mkdir(mode=0o700)
    state_file = state_dir / "tests.n6.shaped.EventsCollector.pickle"
    shutil.copy(PY2_STATES / "events.pickle", state_file)

    run(home, "tests.n6.shaped:EventsCollector", config, "events_local")
    # event 1 was done by the Python 2 collector: event 2 and its attachment only
    assert sink.take(2) == events_messages(served.events[1:], [21])
    assert StateFile(state_file).load(default=dict) == {
        "last_event_id": 2,
        "done_attachments": set(),
    }


def test_the_collectors_own_argument_is_required_and_checked(home, tmp_path, source):
    base, _ = source
    config = events_config(tmp_path, base, Outbox(tmp_path))
    missing = run_cli(
        "run",
        "tests.n6.shaped:EventsCollector",
        "--config",
        str(config),
        env=clean_env(HOME=str(home)),
    )
    assert missing.returncode == 2
    assert missing.stderr_lines == [
        "EventsCollector: EventsCollector: the following arguments are required: section"
    ]
    wrong = run_cli(
        "run",
        "tests.n6.shaped:EventsCollector",
        "--config",
        str(config),
        "nowhere",
        env=clean_env(HOME=str(home)),
    )
    assert wrong.returncode == 3
    assert (
        wrong.stderr_lines[-1].startswith("EventsCollector: ")
        and "section [nowhere] is missing" in wrong.stderr_lines[-1]
    )


def test_the_state_commands_take_the_collectors_own_argument(home, tmp_path, source):
    base, _ = source
    config = events_config(tmp_path, base, Outbox(tmp_path))
    run(home, "tests.n6.shaped:EventsCollector", config, "events_local")
    env = clean_env(HOME=str(home))

    def state(*args: str) -> CliRun:
        return run_cli(
            "state",
            *args,
            "tests.n6.shaped:EventsCollector",
            "--config",
            str(config),
            "events_local",
            env=env,
        )

    path = state("path")
    assert path.returncode == 0, path.stderr
    assert path.stdout == f"{home / '.n6state' / 'tests.n6.shaped.EventsCollector.pickle'}\n"
    shown = state("show")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["last_event_id"] == 2
    backups = state("backups")
    assert backups.returncode == 0, backups.stderr

    missing = run_cli(
        "state", "show", "tests.n6.shaped:EventsCollector", "--config", str(config), env=env
    )
    assert missing.returncode == 2
    assert missing.stderr_lines == [
        "stateful-collectors state: EventsCollector: the following arguments are required: section"
    ]
