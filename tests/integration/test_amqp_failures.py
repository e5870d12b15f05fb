"""Every way publishing to a real RabbitMQ can fail ends the same way.

The process exits 1 with one clear line on stderr (no traceback) and the state
file is byte-identical afterwards, so the next run fetches the same data again.
Each failure is produced for real: a closed port, a wrong password, an exchange
with no queue, a missing exchange, a user without write permission, a queue
that rejects overflow, the broker's memory alarm, and a frozen broker.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tests.support.probe import Probe
from tests.support.processes import assert_one_clear_line, free_port, wait_for_file

pytestmark = pytest.mark.broker

SAVED = {"next": 7}


@pytest.fixture
def saved_state(probe: Probe) -> bytes:
    """The probe's state file from an earlier run; its bytes."""
    return probe.save_state(SAVED)


def assert_state_untouched(probe: Probe, saved_state: bytes) -> None:
    assert probe.state_path.read_bytes() == saved_state
    assert sorted(path.name for path in probe.state_dir.iterdir()) == sorted(
        [probe.state_path.name, probe.state_path.name + ".lock"]
    )


def test_broker_down_connection_refused(probe: Probe, saved_state: bytes):
    port = free_port()
    url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"

    run = probe.run(probe.config(url))

    assert_one_clear_line(
        run, f"cannot connect (connection refused by 127.0.0.1:{port})", "state not saved"
    )
    assert_state_untouched(probe, saved_state)


def test_bad_credentials(probe: Probe, saved_state: bytes):
    run = probe.run(probe.config(probe.broker.url_for("guest", "not-the-password")))

    assert_one_clear_line(run, "the broker refused the credentials", "state not saved")
    assert_state_untouched(probe, saved_state)


def test_unroutable_message(probe: Probe, saved_state: bytes):
    exchange = probe.broker.unique_name("no-queue")  # declared by the run, nothing bound
    try:
        run = probe.run(probe.config(exchange=exchange))
    finally:
        probe.broker.delete_exchange(exchange)

    assert_one_clear_line(
        run,
        f"to exchange '{exchange}' with routing key '{probe.routing_key}' was returned as "
        "unroutable (312 NO_ROUTE)",
        "state not saved",
    )
    assert_state_untouched(probe, saved_state)


def test_channel_closed_404_no_such_exchange(probe: Probe, saved_state: bytes, bound_queue):
    queue = bound_queue(probe.routing_key)
    missing = probe.broker.unique_name("missing")

    run = probe.run(probe.config(publish_to=missing))

    assert_one_clear_line(
        run, "the broker closed the channel (404 NOT_FOUND", f"no exchange '{missing}'"
    )
    assert_state_untouched(probe, saved_state)
    assert probe.broker.drain(queue) == []


def test_channel_closed_403_no_write_permission(probe: Probe, saved_state: bytes, bound_queue):
    queue = bound_queue(probe.routing_key)
    with probe.broker.user(configure=".*", write="", read=".*") as (user, password):
        run = probe.run(probe.config(probe.broker.url_for(user, password)))

    assert_one_clear_line(
        run, "the broker closed the channel (403 ACCESS_REFUSED", f"for user '{user}'"
    )
    assert_state_untouched(probe, saved_state)
    assert probe.broker.drain(queue) == []


def test_nack_from_a_queue_that_rejects_overflow(probe: Probe, saved_state: bytes):
    # A queue limited to one message, rejecting the rest: the broker nacks messages 2 and 3.
    queue = probe.broker.unique_name("full")
    with probe.broker.channel() as channel:
        channel.exchange_declare("raw", "topic", durable=True)  # as the collector declares it
        channel.queue_declare(
            queue, durable=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        channel.queue_bind(queue, "raw", probe.routing_key)
    try:
        run = probe.run(probe.config(count=3))
    finally:
        probe.broker.delete_queue(queue)

    assert_one_clear_line(
        run, "the broker rejected (nack) message", "overflow=reject-publish", "state not saved"
    )
    assert_state_untouched(probe, saved_state)


def test_blocked_connection_ends_within_the_timeout(probe: Probe, saved_state: bytes, bound_queue):
    bound_queue(probe.routing_key)  # routable: only the alarm stands in the way
    timeout = 2
    url = probe.broker.url_for("guest", "guest", blocked_connection_timeout=timeout)

    with probe.broker.memory_alarm():
        run = probe.run(probe.config(url), timeout=120)

    line = assert_one_clear_line(
        run, "the broker blocked the connection", f"blocked_connection_timeout={timeout} s"
    )
    assert "state not saved" in line
    # Process start and connection take a few seconds on a loaded machine; the point is
    # that the run ends near the timeout, not after confirm_timeout (600 s).
    assert run.elapsed < timeout + 30
    assert_state_untouched(probe, saved_state)


@pytest.mark.slow
def test_lost_heartbeat_when_the_broker_freezes(
    probe: Probe, saved_state: bytes, bound_queue, tmp_path: Path
):
    # heartbeat=1: pika gives up on a peer that sends nothing for about 6 s. The broker's
    # Erlang VM is frozen (SIGSTOP) after the collector connected and before it publishes,
    # so its confirms never come.
    bound_queue(probe.routing_key)
    ready, go = tmp_path / "ready", tmp_path / "go"
    url = probe.broker.url_for("guest", "guest", heartbeat=1)
    process = probe.start(probe.config(url, ready_file=ready, go_file=go))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(process.kill)
        wait_for_file(ready, process)
        with probe.broker.paused():
            frozen_at = time.monotonic()
            go.touch()
            stdout, stderr = process.communicate(timeout=90)
            waited = time.monotonic() - frozen_at

    run = type("Run", (), {"returncode": process.returncode, "stderr": stderr})
    assert_one_clear_line(
        run, "the broker stopped answering: no heartbeat", "heartbeat=1 s", "state not saved"
    )
    assert waited < 60
    assert_state_untouched(probe, saved_state)


# ------------------------------------------------ the guide's collectors, when a confirm fails


def unroutable(cls, broker):
    """`cls` publishing to an exchange of its own, to which no queue is bound: every message
    is returned as unroutable, so the confirm fails (for real, at the broker)."""
    exchange = broker.unique_name("nobody-listens")
    same_state_file = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(
        cls.__name__, (cls,), {"output_queue": {"exchange": exchange}, **same_state_file}
    ), exchange


def run_against(cls, broker, config_text: str) -> None:
    with cls(config_text=f"{config_text}[rabbitmq]\nurl = {broker.url}\n") as collector:
        collector.run_collection()


@pytest.mark.parametrize("which", ["time-ordered rows", "complete example"])
def test_a_failed_confirm_leaves_the_guides_collectors_state_byte_identical(
    which, broker, feed_server, tmp_path
):
    """The state moves only after every message is confirmed (not before publishing)."""
    from my_statefull_collector import MyStatefullCollector
    from time_ordered_rows_collector import DemoCsvCollector

    from stateful_collectors.errors import PublishError
    from stateful_collectors.testing import collect, make_config

    state_dir = tmp_path / "state"
    if which == "time-ordered rows":
        base, section, url = DemoCsvCollector, "demo_csv_collector", f"{feed_server.url}/items.csv"
    else:
        base, section, url = MyStatefullCollector, "my_statefull_collector", feed_server.url
        url += "/items.json"
    config = make_config(section, state_dir=state_dir, url=url)
    collect(base, config)  # a first run (outbox) saves a state
    feed_server.feed.add(2)
    cls, exchange = unroutable(base, broker)
    (state_file,) = state_dir.glob("*.pickle")
    saved = state_file.read_bytes()
    try:
        with pytest.raises(PublishError, match="returned as unroutable"):
            run_against(cls, broker, config)
    finally:
        broker.delete_exchange(exchange)
    assert state_file.read_bytes() == saved
    assert list(state_dir.glob("*.pickle")) == [state_file]  # the run used that same file
