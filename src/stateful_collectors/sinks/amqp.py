"""The RabbitMQ sink: pika, publisher confirms, persistent and mandatory messages.

Every message is published persistent (`delivery_mode=2`) and `mandatory`, on a
channel in confirm mode. Publishing does not wait for confirms: frames are
buffered and the socket is served every few hundred messages, so confirms
stream back while the collector keeps publishing (waiting for each confirm in
turn is many times slower; `benchmarks/publishing.py` measures both). Only
when more than a few MiB of frames wait for a socket the broker drains too
slowly does publishing pause until half of them went out, so a run of a
million messages holds no more memory than a run of a thousand.
`confirm_all()` then serves the connection until the broker has acknowledged
every message.

The connection is driven from the caller's thread, except while the caller is
busy elsewhere (downloading for minutes inside `start_publishing()`, say): a
small keeper thread then serves it about once a second, so heartbeats keep
flowing, buffered frames go out and confirms are read. The two never touch the
connection at the same time (a lock), and the keeper only steps in when the
lock is free, so publishing pays no more than an uncontended lock a message.

It raises `PublishError`, and the run fails without saving state, when the
broker cannot be reached or refuses the credentials, closes the channel (no
such exchange, access refused), nacks a message, returns it as unroutable (no
queue is bound for its routing key), keeps the connection blocked longer than
`blocked_connection_timeout`, or stops answering heartbeats.

Delivery is at-least-once: a message can reach the broker and still be
published again by the next run, if this run fails before its state is saved.
Message ids are derived from the content, so consumers can drop repeats.

Configuration, in the config file (all optional but the section itself):

```ini
[rabbitmq]
; either a URL...
url = amqps://user:secret@broker.example.org:5671/collectors
; ...or the fields below (port defaults to 5671 with ssl = true, else 5672)
host = localhost
port = 5672
vhost = /
username = guest
password = guest
ssl = false
ssl_ca_certfile =
ssl_certfile =
ssl_keyfile =
heartbeat = 600
blocked_connection_timeout = 60
socket_timeout = 10
confirm_timeout = 600
```

`$STATEFUL_COLLECTORS_AMQP_URL` overrides the section.
"""

from __future__ import annotations

import collections
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection

from stateful_collectors.config import ConfigSource, ConfigSpec, shown
from stateful_collectors.errors import ConfigError, PublishError
from stateful_collectors.sinks.base import AMQP_URL_ENV_VAR, Exchange

__all__ = ["AmqpSink"]

log = logging.getLogger(__name__)


def _amqp_url(text: str) -> str:
    """An AMQP URL pika can connect to (`''`: none); the converter of `url`, and of the variable.

    Raises `ValueError` whose message completes "the value ...".
    """
    if not text.strip():
        return ""
    url = text.strip()
    example = "write e.g. amqp://broker.example.org:5672/%2F"
    parts = urllib.parse.urlsplit(url)
    if "://" not in url or parts.scheme.lower() not in ("amqp", "amqps"):
        raise ValueError(f"is not an amqp:// or amqps:// URL; {example}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"has no port number from 1 to 65535 after its host; {example}")
    try:
        pika.URLParameters(url)
    except Exception as exc:  # pika's own checks of the query's options (heartbeat=...)
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise ValueError(f"is not an AMQP URL pika can use ({reason}); {example}") from None
    return url


def _port(text: str) -> int:
    port = int(text) if text.strip().isdigit() else -1
    if not 0 < port < 65536:
        raise ValueError("is not a port number; write a whole number from 1 to 65535")
    return port


def _heartbeat(text: str) -> int:
    seconds = int(text) if text.strip().isdigit() else -1
    if not 0 <= seconds <= 65535:
        raise ValueError(
            "is not a number of seconds from 0 (no heartbeats) to 65535; write e.g. 600"
        )
    return seconds


_SPEC = ConfigSpec.parse(
    """
    [rabbitmq]
    url = :: amqp_url
    host = localhost :: str
    port = :: port
    vhost = / :: str
    username = guest :: str
    password = guest :: str
    ssl = false :: bool
    ssl_ca_certfile = :: str
    ssl_certfile = :: str
    ssl_keyfile = :: str
    heartbeat = 600 :: heartbeat
    blocked_connection_timeout = 60 :: seconds
    socket_timeout = 10 :: seconds
    confirm_timeout = 600 :: seconds
    """,
    owner="the [rabbitmq] section",
    converters={"amqp_url": _amqp_url, "port": _port, "heartbeat": _heartbeat},
)

_PUMP_EVERY = 256  # publishes between two non-blocking turns of the I/O loop
_MAX_BUFFERED_BYTES = 4 << 20  # frames waiting for the socket; beyond, publishing waits
_KEEPALIVE_PERIOD = 1.0  # seconds between two turns of the keeper thread


def _connection_parameters(
    options: Mapping[str, Any], url: str | None = None, where: str = "[rabbitmq]"
) -> pika.connection.Parameters:
    """pika parameters from `[rabbitmq]` options, or from `url` when one is given.

    `where` names the options' file, for the line about a certificate file
    that cannot be used.
    """
    url = url or options.get("url") or None
    if url:
        parameters: pika.connection.Parameters = pika.URLParameters(url)
    else:
        ssl_options = None
        if options.get("ssl"):
            context = _ssl_context(options, where)
            ssl_options = pika.SSLOptions(context, options.get("host", "localhost"))
        parameters = pika.ConnectionParameters(
            host=options.get("host", "localhost"),
            port=options.get("port") or (5671 if ssl_options else 5672),
            virtual_host=options.get("vhost", "/"),
            credentials=pika.PlainCredentials(
                options.get("username", "guest"), options.get("password", "guest")
            ),
            ssl_options=ssl_options,
        )
    if not url or "heartbeat" not in url:
        parameters.heartbeat = options.get("heartbeat", 600)
    if not url or "blocked_connection_timeout" not in url:
        parameters.blocked_connection_timeout = options.get("blocked_connection_timeout", 60)
    if not url or "socket_timeout" not in url:
        parameters.socket_timeout = options.get("socket_timeout", 10)
    parameters.connection_attempts = 1
    return parameters


def _ssl_context(options: Mapping[str, Any], where: str) -> Any:
    """The TLS context of `ssl = true`; a certificate file it cannot use is a `ConfigError`."""
    import ssl

    option = "ssl_ca_certfile"
    try:
        context = ssl.create_default_context(cafile=options.get(option) or None)
        if options.get("ssl_certfile"):
            option = "ssl_certfile"
            context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile") or None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        if option == "ssl_certfile" and options.get("ssl_keyfile"):
            option = "ssl_certfile' or 'ssl_keyfile"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"{where}: [rabbitmq] option '{option}' names a file that cannot be used "
            f"({reason}); give the path of a PEM file the collector's user may read"
        ) from None
    return context


def _describe_parameters(parameters: pika.connection.Parameters) -> str:
    scheme = "amqps" if parameters.ssl_options else "amqp"
    user = getattr(parameters.credentials, "username", "?")
    vhost = urllib.parse.quote(parameters.virtual_host, safe="")
    return f"rabbitmq {scheme}://{user}@{parameters.host}:{parameters.port}/{vhost}"


class AmqpSink:
    """Publish to RabbitMQ with publisher confirms (see the module docstring).

    Attributes:
        published: messages handed to the broker since `open()`.
        confirmed: of those, how many the broker has acknowledged.
    """

    def __init__(
        self, parameters: pika.connection.Parameters, *, confirm_timeout: float = 600
    ) -> None:
        self.parameters = parameters
        self.confirm_timeout = confirm_timeout
        self.description = _describe_parameters(parameters)
        self.published = 0
        self.confirmed = 0
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._ready = False
        self._closed = False
        self._error: PublishError | None = None
        self._exchanges: list[Exchange] = []
        self._outstanding: collections.deque[int] = collections.deque()
        self._acked_early: set[int] = set()
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()

    @classmethod
    def from_config(cls, source: ConfigSource, env: Mapping[str, str]) -> AmqpSink:
        """Build from the `[rabbitmq]` section and `$STATEFUL_COLLECTORS_AMQP_URL`."""
        options = source.section(_SPEC, "rabbitmq")
        variable = env.get(AMQP_URL_ENV_VAR) or ""
        try:
            url = _amqp_url(variable) or None
        except ValueError as exc:
            raise ConfigError(f"${AMQP_URL_ENV_VAR} = {shown(variable)}: the value {exc}") from None
        parameters = _connection_parameters(options, url, options.origin)
        return cls(parameters, confirm_timeout=options["confirm_timeout"])

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AmqpSink:
        """Build from an AMQP URL such as `amqp://guest:guest@localhost:5672/%2F`."""
        return cls(_connection_parameters({}, url), **kwargs)

    # -- the Sink protocol

    def check(self) -> None:
        """Nothing to do: `from_config()` and `from_url()` checked every setting."""

    def open(self, exchanges: Sequence[Exchange]) -> None:
        with self._lock:
            self._exchanges = list(exchanges)
            self.published = self.confirmed = 0
            self._outstanding.clear()
            self._acked_early.clear()
            self._ready = self._closed = False
            self._error = None
            self._connection = SelectConnection(
                self.parameters,
                on_open_callback=self._on_connection_open,
                on_open_error_callback=self._on_connection_open_error,
                on_close_callback=self._on_connection_closed,
            )
            self._connection.ioloop.activate_poller()
            timeout = (self.parameters.socket_timeout or 10) + 30
            self._serve_until(lambda: self._ready, timeout, "connecting and declaring exchanges")
            log.debug("connected: %s", self.description)
        self._keeper_stop.clear()
        self._keeper = threading.Thread(
            target=self._keep_alive, name="amqp-sink-keeper", daemon=True
        )
        self._keeper.start()

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: Mapping[str, Any]
    ) -> None:
        with self._lock:
            self._raise_if_failed()
            if not self._ready:
                raise RuntimeError("publish() before open() or after close()")
            props = dict(properties)
            props.setdefault("delivery_mode", pika.DeliveryMode.Persistent)
            self._channel.basic_publish(
                exchange, routing_key, body, pika.BasicProperties(**props), mandatory=True
            )
            self.published += 1
            self._outstanding.append(self.published)  # delivery tags count from 1 on the channel
            if self.published % _PUMP_EVERY == 0:
                self._serve_once(block=False)
                if self._buffered_bytes() > _MAX_BUFFERED_BYTES:  # the broker is slower
                    self._serve_until(
                        lambda: self._buffered_bytes() <= _MAX_BUFFERED_BYTES // 2,
                        self.confirm_timeout,
                        "waiting for the broker to take the messages already sent",
                    )
                self._raise_if_failed()

    def confirm_all(self) -> None:
        with self._lock:
            self._serve_until(
                lambda: self.confirmed >= self.published,
                self.confirm_timeout,
                f"waiting for the broker to confirm {self.published - self.confirmed} message(s)",
            )

    def close(self) -> None:
        self._stop_keeper()
        with self._lock:
            connection = self._connection
            if connection is None:
                return
            try:
                if connection.is_open:
                    connection.close()
                    self._serve_until(
                        lambda: self._closed, 10, "closing the connection", check=False
                    )
            except Exception as exc:  # closing is best effort; the run's outcome is known
                log.debug("error while closing %s: %s", self.description, exc)
            finally:
                try:
                    connection.ioloop.deactivate_poller()
                    connection.ioloop.close()
                except Exception:  # noqa: BLE001 - the loop may already be closed
                    pass
                self._connection = None
                self._ready = False

    # -- driving the I/O loop from the caller's thread (callers hold self._lock)

    def _serve_once(self, *, block: bool) -> None:
        assert self._connection is not None
        ioloop = self._connection.ioloop
        if not block:
            ioloop.call_later(0, _nothing)
        ioloop.poll()
        ioloop.process_timeouts()

    def _serve_until(
        self, done: Callable[[], bool], timeout: float | None, doing: str, *, check: bool = True
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            if check:
                self._raise_if_failed()
            elif self._closed:
                return
            if self._connection is None:
                raise PublishError(f"{self.description}: connection lost while {doing}")
            if deadline is not None and time.monotonic() > deadline:
                raise PublishError(f"{self.description}: timed out after {timeout:g} s {doing}")
            self._serve_once(block=True)
        if check:
            self._raise_if_failed()

    def _buffered_bytes(self) -> int:
        """Bytes of frames pika holds for the socket (what a slow broker makes pile up)."""
        connection = self._connection
        if connection is None or not connection.is_open:  # closing: nothing more goes out
            return 0
        return int(connection._get_write_buffer_size())

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, message: str) -> None:
        if self._error is None:
            self._error = PublishError(f"{self.description}: {message}")
            log.debug("sink failed: %s", message)
        connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()

    # -- the keeper thread: serves the connection while the caller is busy elsewhere

    def _keep_alive(self) -> None:
        while not self._keeper_stop.wait(_KEEPALIVE_PERIOD):
            if not self._lock.acquire(blocking=False):
                continue  # the caller is using the connection: it serves it itself
            try:
                if self._connection is None or self._closed:
                    return
                self._serve_once(block=False)
            except Exception as exc:  # noqa: BLE001 - reported to the caller, not lost
                if self._error is None:
                    self._error = PublishError(f"{self.description}: {_reason(exc)}")
                return
            finally:
                self._lock.release()

    def _stop_keeper(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            self._keeper_stop.set()
            keeper.join(timeout=10)

    # -- pika callbacks

    def _on_connection_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_open_error(self, _connection: SelectConnection, error: Any) -> None:
        self._closed = True
        refused = (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)
        if isinstance(error, refused):
            reason = "the broker refused the credentials; check username and password"
        elif isinstance(error, pika.exceptions.ProbableAccessDeniedError):
            reason = "access to the virtual host was refused; check vhost and permissions"
        else:
            reason = (
                f"cannot connect ({_connect_failure(error, self.parameters)}); "
                "is the broker running and reachable?"
            )
        self._fail(reason)

    def _on_connection_closed(self, _connection: SelectConnection, reason: Any) -> None:
        self._closed = True
        self._ready = False
        if not (
            isinstance(reason, pika.exceptions.ConnectionClosedByClient)
            and reason.reply_code == 200
        ):
            self._fail(self._connection_lost(reason))

    def _connection_lost(self, reason: Any) -> str:
        """One line on why the connection went away."""
        if isinstance(reason, pika.exceptions.ConnectionBlockedTimeout):
            return (
                "the broker blocked the connection (resource alarm: memory or disk) for longer "
                f"than blocked_connection_timeout={self.parameters.blocked_connection_timeout:g} s"
            )
        if isinstance(reason, pika.exceptions.AMQPHeartbeatTimeout):
            return (
                "the broker stopped answering: no heartbeat or data within the heartbeat "
                f"timeout (heartbeat={self.parameters.heartbeat} s); connection lost"
            )
        if isinstance(reason, pika.exceptions.ConnectionClosedByBroker):
            return f"the broker closed the connection ({_reason(reason)})"
        if isinstance(reason, pika.exceptions.StreamLostError):
            return f"the connection to the broker was lost ({_stream_lost(reason)})"
        return f"connection closed ({_reason(reason)})"

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=self._on_confirm_select_ok)

    def _on_confirm_select_ok(self, _frame: Any) -> None:
        self._declare_next(0)

    def _declare_next(self, index: int) -> None:
        if index == len(self._exchanges):
            self._ready = True
            return
        exchange = self._exchanges[index]
        self._channel.exchange_declare(
            exchange=exchange.name,
            exchange_type=exchange.type,
            durable=True,
            callback=lambda _frame: self._declare_next(index + 1),
        )

    def _on_channel_closed(self, _channel: Any, reason: Any) -> None:
        if isinstance(reason, pika.exceptions.ChannelClosedByClient):
            return
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
            self._fail(f"the broker closed the channel ({_reason(reason)})")
        else:  # the channel went down with its connection: say why the connection did
            self._fail(self._connection_lost(reason))

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        self._fail(
            f"message {properties.message_id} to exchange {method.exchange!r} with routing key "
            f"{method.routing_key!r} was returned as unroutable ({method.reply_code} "
            f"{method.reply_text}); bind a queue for that routing key"
        )

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = method.delivery_tag
        if isinstance(method, pika.spec.Basic.Nack):
            which = f"messages up to {tag}" if method.multiple else f"message {tag}"
            self._fail(
                f"the broker rejected (nack) {which} of this run (a queue at its length "
                "limit with overflow=reject-publish, or an error inside the broker)"
            )
            return
        outstanding, early = self._outstanding, self._acked_early
        if method.multiple:
            while outstanding and outstanding[0] <= tag:
                early.discard(outstanding.popleft())
        elif outstanding and outstanding[0] == tag:
            outstanding.popleft()
        else:
            early.add(tag)
        while outstanding and outstanding[0] in early:
            early.remove(outstanding.popleft())
        self.confirmed = self.published - len(outstanding) + len(early)


def _nothing() -> None:
    """A callback that makes the next poll return at once."""


def _reason(error: Any) -> str:
    if isinstance(error, (pika.exceptions.ChannelClosed, pika.exceptions.ConnectionClosed)):
        return f"{error.reply_code} {error.reply_text}"
    text = str(error) or type(error).__name__
    return text.strip("()").replace("\n", " ")


def _root_cause(error: BaseException) -> BaseException:
    """The error under pika's connection-workflow wrappers (an OSError, usually)."""
    from pika.adapters.utils import connection_workflow as workflow

    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, workflow.AMQPConnectionWorkflowFailed) and error.exceptions:
            error = error.exceptions[-1]
        elif isinstance(error, workflow.AMQPConnectorPhaseErrorBase):
            error = error.exception
        elif (
            type(error) is pika.exceptions.AMQPConnectionError
            and error.args
            and isinstance(error.args[0], BaseException)
        ):
            error = error.args[0]
        else:
            break
    return error


def _connect_failure(error: BaseException, parameters: pika.connection.Parameters) -> str:
    """What went wrong while connecting, in a few words: 'connection refused'..."""
    cause = _root_cause(error)
    where = f"{parameters.host}:{parameters.port}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve host {parameters.host!r}: {cause.strerror or cause}"
    if isinstance(cause, TimeoutError):
        return f"timed out connecting to {where}"
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror.lower()} ({where})"
    if isinstance(cause, pika.exceptions.IncompatibleProtocolError):
        return f"{where} does not speak AMQP 0-9-1"
    if isinstance(cause, pika.exceptions.StreamLostError):
        return f"{where} closed the connection during the handshake ({_stream_lost(cause)})"
    return f"{type(cause).__name__}: {_reason(cause)}" if str(cause) else type(cause).__name__


_OS_ERROR_REPR = re.compile(r"\w+Error\(\d+, '([^']*)'\)")


def _stream_lost(error: BaseException) -> str:
    """'connection reset by peer' out of pika's "Stream connection lost: ...Error(104, ...)"."""
    text = str(error).removeprefix("Stream connection lost: ")
    match = _OS_ERROR_REPR.search(text)
    return match.group(1).lower() if match else text
