"""examples/my_statefull_collector.py, the seed's collector, complete: the guide's centerpiece.

Run as the guide runs it (outbox and RabbitMQ), in-process with the testing
helpers, and unchanged against a real RabbitMQ with a config of its own; and
against sources that would hold it for ever: a real server that sends its
answer one byte at a time (bounded by `download_timeout`, and by the run's
deadline), and an answer larger than `download_max_bytes`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time

import pytest
from my_statefull_collector import MyStatefullCollector

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.sinks.outbox import read_outbox
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


# ---------------------------------------------------------------- a source that stalls


class DripServer:
    """A real HTTP server that answers 200 with a body sent one byte every `pause` seconds."""

    def __init__(self, pause: float = 0.5, size: int = 10_000) -> None:
        self.pause = pause
        self.size = size
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/items.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                connection, _ = self._socket.accept()
                threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\n\r\n[".encode()
            connection.sendall(head)
            for _ in range(self.size - 1):
                if self._stop.wait(self.pause):
                    return
                connection.sendall(b" ")

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


@pytest.fixture
def drip():
    server = DripServer()
    yield server
    server.close()


def example_conf(tmp_path, url: str, extra: str = "") -> str:
    config = tmp_path / "example.conf"
    config.write_text(
        f"[my_statefull_collector]\nstate_dir = {tmp_path / 'state'}\nurl = {url}\n{extra}"
        f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
    )
    return str(config)


def test_a_source_that_sends_one_byte_at_a_time_fails_the_run_at_download_timeout(
    drip, tmp_path, summary
):
    config = example_conf(tmp_path, drip.url, "download_timeout = 2\n")
    started = time.monotonic()
    result = run_cli("run", EXAMPLE, "--config", config)
    elapsed = time.monotonic() - started
    # the lock went with the run: the next one is not "already running"
    again = run_cli("run", EXAMPLE, "--config", config)
    summary(
        f"a source sending 1 byte every {drip.pause:g} s: the run failed after {elapsed:.1f} s "
        f"(download_timeout = 2), exit {result.returncode}; the next run: exit {again.returncode}"
    )
    assert result.returncode == 1
    assert result.stderr_lines[-1] == (
        f"MyStatefullCollector: failed: {drip.url}: the download did not finish within 2 s "
        "(the time for the whole download); raise download_timeout (fetch()'s timeout) if the "
        "source is that slow; nothing published; state not saved (the next run starts from the "
        "previous state)"
    )
    assert elapsed < 30
    assert again.returncode == 1  # the same failure, not exit 5
    assert not (tmp_path / "outbox.jsonl").exists() or not read_outbox(tmp_path / "outbox.jsonl")


def test_the_run_deadline_stops_a_stalled_download_too(drip, tmp_path):
    config = example_conf(tmp_path, drip.url, "download_timeout = 600\n")
    started = time.monotonic()
    result = run_cli("run", EXAMPLE, "--config", config, "--deadline", "2")
    assert time.monotonic() - started < 30
    assert result.returncode == 124
    assert result.stderr_lines[-1] == (
        "MyStatefullCollector: deadline passed (2 s); nothing published; state not saved "
        "(the next run starts from the previous state)"
    )


def test_an_answer_larger_than_download_max_bytes_fails_the_run(feed_server, tmp_path):
    url = f"{feed_server.url}/items.json"
    result = run_cli(
        "run", EXAMPLE, "--config", example_conf(tmp_path, url, "download_max_bytes = 100\n")
    )
    assert result.returncode == 1
    assert result.stderr_lines[-1] == (
        f"MyStatefullCollector: failed: {url}: the answer is larger than 100 bytes; raise "
        "download_max_bytes (fetch()'s max_bytes) if the source really sends that much; "
        "nothing published; state not saved (the next run starts from the previous state)"
    )
