"""A real RabbitMQ broker for the tests (one per session), and helpers to inspect it.

The broker is Debian's `rabbitmq-server`, started by pytest-rabbitmq's
`rabbitmq_proc` factory straight from `/usr/lib/rabbitmq/bin/rabbitmq-server`
(the `/usr/sbin` wrapper would switch to the `rabbitmq` user) on free ports,
with its data in pytest's temporary directory.

Fixtures (tests/conftest.py registers this module in `pytest_plugins`):

* `broker` (session): a `Broker`, started once per test session. When the
  server binary is absent, every test that asks for it is skipped with the
  reason; with `STATEFUL_COLLECTORS_REQUIRE_BROKER=1` (set by `.ci/run`) it
  fails instead.
* `bound_queue` (function): `bound_queue(routing_key="#", exchange="raw")`
  declares a fresh durable queue with a unique name, binds it and returns its
  name; every queue it made is deleted when the test ends.

The broker is shared by every test of the session, so tests keep to their own
names: unique queues (`bound_queue`, `Broker.unique_name`), specific routing
keys, their own exchanges and users, and they undo what they change
(`Broker.memory_alarm`, `Broker.paused` and `Broker.user` restore on exit).

`Broker` (the fixture's value) offers:

* `url` (`amqp://guest:guest@127.0.0.1:PORT/%2F`), `host`, `port`, and
  `url_for(username, password, **query)` for other credentials or pika URL
  parameters (`heartbeat=2`, `blocked_connection_timeout=1`...);
* `ctl(*args) -> str`: `rabbitmqctl` against this node;
* `restart()`: stop the node (gracefully) and start it again on the same port
  and data directory, so durable queues and persistent messages must survive;
* `bind_queue(queue=None, exchange="raw", routing_key="#") -> str`: declare a
  durable queue bound to a durable topic exchange, purged (a unique name when
  `queue` is `None`); `delete_queue(queue)`;
* `drain(queue, expect=None, timeout=10) -> list[Delivered]`: take every message
  now in the queue (waiting for at least `expect` of them when given), each a
  `Delivered(routing_key, properties, body, exchange)`, unpackable as the
  triple `(routing_key, properties, body)`;
* `user(...)`: a context manager adding a user with given permissions;
* `memory_alarm()`: a context manager that sets the memory watermark to 0, so
  the broker blocks publishing connections, and restores it;
* `paused()`: a context manager that freezes the broker's Erlang VM with
  SIGSTOP (it stops answering, heartbeats included) and resumes it with SIGCONT.

Outside pytest (the benchmarks, run from the repository root, import it as
`tests.support.broker`), `local_broker(directory)` starts a private node the
same way and stops it on exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support import skip_unless_required

SERVER = Path(
    os.environ.get("STATEFUL_COLLECTORS_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
)
"""The broker binary (Debian's, without the user-switching wrapper)."""
CTL = SERVER.with_name("rabbitmqctl")
REQUIRE_BROKER_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_BROKER"
"""Set to 1 (as `.ci/run` does) to turn a missing broker into a failure."""

_DEFAULT_WATERMARK = "0.4"

__all__ = [
    "CTL",
    "SERVER",
    "Broker",
    "Delivered",
    "bound_queue",
    "broker",
    "broker_missing_reason",
    "local_broker",
]


class Delivered(NamedTuple):
    """One message taken from a queue."""

    routing_key: str
    properties: Any  # pika.BasicProperties
    body: bytes
    exchange: str = ""


def broker_missing_reason() -> str | None:
    """Why no broker can be started here, or `None` when the binary is there."""
    if not (SERVER.exists() and os.access(SERVER, os.X_OK)):
        return (
            f"RabbitMQ server not found at {SERVER}; install Debian's rabbitmq-server "
            f"(apt-get install rabbitmq-server) to run the broker tests"
        )
    if not CTL.exists():
        return f"rabbitmqctl not found at {CTL}; the rabbitmq-server install looks incomplete"
    return None


class Broker:
    """A running RabbitMQ node and the tools the tests use on it."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self.host: str = executor.host
        self.port: int = executor.port
        self.url = self.url_for("guest", "guest")
        self._beam_pid: int | None = None

    # -- addresses

    def url_for(self, username: str, password: str, vhost: str = "/", **query: Any) -> str:
        """An AMQP URL for this node with other credentials or pika URL parameters."""
        user = urllib.parse.quote(username, safe="")
        secret = urllib.parse.quote(password, safe="")
        path = urllib.parse.quote(vhost, safe="")
        url = f"amqp://{user}:{secret}@{self.host}:{self.port}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    @staticmethod
    def unique_name(prefix: str = "test") -> str:
        """A name no other test uses (queues, exchanges, users)."""
        return f"{prefix}-{secrets.token_hex(4)}"

    # -- the node

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """Run `rabbitmqctl ARGS` against this node and return what it printed."""
        result = subprocess.run(
            [str(CTL), *args],
            env=self._executor.envvars,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result.stdout

    def restart(self) -> None:
        """Stop the node gracefully and start it again (same port, same data)."""
        self._executor.stop()
        self._beam_pid = None
        self._executor.start()
        self.ctl("await_startup")

    def beam_pid(self) -> int:
        """The process id of the node's Erlang VM."""
        if self._beam_pid is None:
            self._beam_pid = int(self.ctl("eval", "os:getpid().").strip().strip('"'))
        return self._beam_pid

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the whole node (SIGSTOP) for the block; it resumes (SIGCONT) on exit."""
        pid = self.beam_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    @contextlib.contextmanager
    def memory_alarm(self) -> Iterator[None]:
        """Raise the memory alarm (watermark 0) for the block: publishers get blocked.

        The block starts once the broker reports the alarm, not merely once it was asked.
        """
        self.ctl("set_vm_memory_high_watermark", "0")
        try:
            deadline = time.monotonic() + 30
            while "memory" not in self.ctl("eval", "rabbit_alarm:get_alarms()."):
                if time.monotonic() > deadline:
                    raise RuntimeError("the memory alarm was not raised within 30 s")
                time.sleep(0.2)
            yield
        finally:
            self.ctl("set_vm_memory_high_watermark", _DEFAULT_WATERMARK)
            deadline = time.monotonic() + 30
            while "memory" in self.ctl("eval", "rabbit_alarm:get_alarms()."):
                if time.monotonic() > deadline:
                    raise RuntimeError("the memory alarm did not clear within 30 s")
                time.sleep(0.2)

    @contextlib.contextmanager
    def user(
        self,
        name: str | None = None,
        password: str | None = None,
        *,
        configure: str = ".*",
        write: str = ".*",
        read: str = ".*",
    ) -> Iterator[tuple[str, str]]:
        """Add a user with these permissions on vhost `/` for the block; yields (name, password)."""
        name = name or self.unique_name("user")
        password = password or secrets.token_hex(8)
        self.ctl("add_user", name, password)
        try:
            self.ctl("set_permissions", "-p", "/", name, configure, write, read)
            yield name, password
        finally:
            self.ctl("delete_user", name)

    # -- queues and messages

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        """A channel on a short-lived blocking connection (a consumer apart from the sink)."""
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            yield connection.channel()
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def bind_queue(
        self, queue: str | None = None, exchange: str = "raw", routing_key: str = "#"
    ) -> str:
        """Declare a durable queue bound to a durable topic exchange, purged; return its name."""
        queue = queue or self.unique_name("queue")
        with self.channel() as channel:
            channel.exchange_declare(exchange, "topic", durable=True)
            channel.queue_declare(queue, durable=True)
            channel.queue_bind(queue, exchange, routing_key)
            channel.queue_purge(queue)
        return queue

    def delete_queue(self, queue: str) -> None:
        """Delete a queue (nothing happens if it does not exist)."""
        with self.channel() as channel:
            channel.queue_delete(queue)

    def delete_exchange(self, exchange: str) -> None:
        """Delete an exchange (nothing happens if it does not exist)."""
        with self.channel() as channel:
            channel.exchange_delete(exchange)

    def drain(self, queue: str, expect: int | None = None, timeout: float = 10) -> list[Delivered]:
        """Take every message now in `queue`; with `expect`, wait for at least that many."""
        taken: list[Delivered] = []
        deadline = time.monotonic() + timeout
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is not None:
                    taken.append(Delivered(method.routing_key, properties, body, method.exchange))
                    continue
                if expect is None or len(taken) >= expect or time.monotonic() > deadline:
                    return taken
                time.sleep(0.05)

    def message_count(self, queue: str) -> int:
        """How many messages are ready in `queue`."""
        with self.channel() as channel:
            return channel.queue_declare(queue, passive=True).method.message_count


def _start_epmd() -> None:
    """Start Erlang's port mapper on its own, before any node, unless one already runs.

    A node that finds no `epmd` starts one as its child, and pytest-rabbitmq's
    executor (mirakuru) stops a node by killing every process it started, that
    `epmd` included. Every other node on the machine (a second test worker's, the
    benchmarks') then drops out of the port mapper: `rabbitmqctl` says it is "not
    running at all" although it runs. An `epmd` started here belongs to no node.
    """
    command = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
    env = {key: value for key, value in os.environ.items() if key != "mirakuru_uuid"}
    with contextlib.suppress(OSError):
        subprocess.run([command, "-daemon"], env=env, check=False, timeout=30, capture_output=True)


def _plugins_dir(base: Path) -> Path:
    """A directory holding an empty enabled-plugins file (no plugins: a quick start)."""
    base.mkdir(parents=True, exist_ok=True)
    plugins = base / "plugins"
    if not plugins.exists():  # written aside and renamed: other sessions may read it now
        aside = base / f".plugins.{os.getpid()}"
        aside.write_text("[].\n")
        os.replace(aside, plugins)
    return base


@contextlib.contextmanager
def local_broker(directory: Path) -> Iterator[Broker]:
    """Start a private node (data in `directory`) for the block, outside pytest."""
    from port_for import get_port
    from pytest_rabbitmq.factories.executor import RabbitMqExecutor

    reason = broker_missing_reason()
    if reason:
        raise RuntimeError(reason)
    directory = Path(directory)
    port = get_port(None)
    executor = RabbitMqExecutor(
        str(SERVER),
        "127.0.0.1",
        port,
        get_port(None, [port]),
        str(CTL),
        logpath=directory / "logs",
        path=directory,
        plugin_path=_plugins_dir(directory),
    )
    _start_epmd()
    executor.start()
    try:
        yield Broker(executor)
    finally:
        executor.stop()


def _make_proc_fixture() -> Any:
    from pytest_rabbitmq import factories

    # The plugins directory is only named here; `broker` creates it when it starts a
    # node, so importing this module (the benchmarks do) leaves nothing in TMPDIR.
    plugins = Path(tempfile.gettempdir()) / "stateful-collectors-rabbitmq"
    return factories.rabbitmq_proc(server=str(SERVER), ctl=str(CTL), plugindir=plugins)


stateful_collectors_rabbitmq_proc = _make_proc_fixture()
"""pytest-rabbitmq's process fixture, pointed at Debian's binary (used by `broker`)."""


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest) -> Broker:
    """The session's RabbitMQ node (see the module docstring)."""
    reason = broker_missing_reason()
    if reason:
        skip_unless_required(reason, REQUIRE_BROKER_ENV_VAR)
    _plugins_dir(Path(tempfile.gettempdir()) / "stateful-collectors-rabbitmq")
    _start_epmd()
    executor = request.getfixturevalue("stateful_collectors_rabbitmq_proc")
    node = Broker(executor)
    node.ctl("await_startup")
    return node


@pytest.fixture
def bound_queue(broker: Broker) -> Iterator[Any]:
    """Make fresh queues bound to an exchange; they are deleted after the test."""
    made: list[str] = []

    def bind(routing_key: str = "#", exchange: str = "raw") -> str:
        queue = broker.bind_queue(None, exchange, routing_key)
        made.append(queue)
        return queue

    yield bind
    for queue in made:
        with contextlib.suppress(Exception):
            broker.delete_queue(queue)
