"""The embedded sink: a JSON Lines file that stands in for a broker.

Used when no RabbitMQ is configured, so a collector can be written, run and
tested with nothing else installed. Each message is one line:

```json
{"body": "[...]", "body_encoding": "utf-8", "exchange": "raw",
 "properties": {"message_id": "...", "type": "stream", ...}, "routing_key": "demo.items"}
```

Bodies that are not UTF-8 text are stored as base64 (`"body_encoding": "base64"`).
Lines are appended under an exclusive `flock` (several collectors may share one
outbox) and fsynced before `confirm_all()` returns: the same promise as a
broker's publisher confirm. If a crash cut the last line short, the next append
starts on a fresh line and `read_outbox` skips the damaged one.

The outbox is checked like a state file before anything is appended (see
`stateful_collectors.fs.open_private_file`): its directory must belong to the
user (or root) and be closed to group and others, and the file must be a
regular file of the user's, with one name, never a symlink. A refusal is a
`StateFileError` (exit status 4) naming the file.

The file is `[outbox] path` from the config, or `$STATEFUL_COLLECTORS_OUTBOX`,
or `$XDG_DATA_HOME/stateful-collectors/outbox.jsonl`
(`~/.local/share/stateful-collectors/outbox.jsonl`).

Example:
    ```python
    import tempfile

    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.outbox import OutboxSink, read_outbox

    with tempfile.TemporaryDirectory() as tmp:
        sink = OutboxSink(f"{tmp}/outbox.jsonl")
        sink.open([Exchange("raw")])
        sink.publish("raw", "demo.items", b'{"id": 1}', {"message_id": "m1"})
        sink.confirm_all()
        sink.close()
        (message,) = read_outbox(f"{tmp}/outbox.jsonl")
        print(message.routing_key, message.body)
        #> demo.items b'{"id": 1}'
    ```
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stateful_collectors._value import Value
from stateful_collectors.config import ConfigSource, ConfigSpec
from stateful_collectors.errors import PublishError, StateFileError
from stateful_collectors.fs import (
    ensure_private_directory,
    fsync_directory,
    open_private_file,
    open_regular_file,
)
from stateful_collectors.sinks.base import OUTBOX_ENV_VAR, Exchange

__all__ = ["OutboxMessage", "OutboxSink", "read_outbox"]

log = logging.getLogger(__name__)

_SPEC = ConfigSpec.parse(
    """
    [outbox]
    path = :: str
    """,
    owner="the [outbox] section",
)

_WRITE_BATCH_BYTES = 1 << 20
_REMEDY = f"point [outbox] path (or ${OUTBOX_ENV_VAR}) at a file of your own"


def default_outbox_path(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME/stateful-collectors/outbox.jsonl`, `~/.local/share/...` by default.

    A `$XDG_DATA_HOME` that is not an absolute path is ignored, as the XDG base
    directory rules say.
    """
    env = os.environ if env is None else env
    data_home = env.get("XDG_DATA_HOME", "")
    if not os.path.isabs(data_home):
        data_home = str(Path("~/.local/share").expanduser())
    return Path(data_home) / "stateful-collectors" / "outbox.jsonl"


class OutboxMessage(Value):
    """One message read back from an outbox file."""

    __slots__ = ("exchange", "routing_key", "properties", "body")
    exchange: str
    routing_key: str
    properties: Mapping[str, Any]
    body: bytes

    def __init__(
        self, exchange: str, routing_key: str, properties: Mapping[str, Any], body: bytes
    ) -> None:
        self._set(exchange, routing_key, properties, body)


def _encode_line(
    exchange: str, routing_key: str, body: bytes, properties: Mapping[str, Any]
) -> bytes:
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    record = {
        "exchange": exchange,
        "routing_key": routing_key,
        "properties": dict(properties),
        "body": text,
        "body_encoding": encoding,
    }
    return (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


class OutboxSink:
    """Append messages to a JSON Lines file; `confirm_all()` fsyncs them."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.description = f"outbox {self.path}"
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._fd: int | None = None
        self._exchanges: set[str] = set()
        self._unsynced = 0

    @classmethod
    def from_config(cls, source: ConfigSource, env: Mapping[str, str]) -> OutboxSink:
        """The outbox named by `$STATEFUL_COLLECTORS_OUTBOX`, `[outbox] path`, or the default."""
        if env.get(OUTBOX_ENV_VAR):
            return cls(env[OUTBOX_ENV_VAR])
        configured = source.section(_SPEC, "outbox")["path"]
        return cls(configured or default_outbox_path(env))

    def check(self) -> None:
        """Check the outbox's directory (making it if missing); the file is not opened.

        Raises:
            StateFileError: the directory is unsafe or is not one (exit status 4).
        """
        path = os.fspath(self.path)
        ensure_private_directory(
            os.path.dirname(path) or ".",
            path,
            what="outbox dir",
            option="[outbox] path",
            names_a_file=True,
        )

    def open(self, exchanges: Sequence[Exchange]) -> None:
        """Open (or create) the file for appending, after checking it and its directory.

        Raises:
            StateFileError: the file or its directory is unsafe (exit status 4).
            PublishError: the file cannot be opened or created.
        """
        self._exchanges = {exchange.name for exchange in exchanges}
        path = os.fspath(self.path)
        directory = os.path.dirname(path) or "."
        self.check()
        try:
            flags = os.O_RDWR | os.O_APPEND
            try:
                self._fd = open_private_file(path, flags, "outbox", remedy=_REMEDY)
            except FileNotFoundError:  # create it, and make its name durable
                try:
                    self._fd = open_private_file(
                        path, flags | os.O_CREAT | os.O_EXCL, "outbox", remedy=_REMEDY
                    )
                except FileExistsError:  # another collector created it meanwhile
                    self._fd = open_private_file(path, flags, "outbox", remedy=_REMEDY)
                else:
                    fsync_directory(directory)
        except StateFileError:
            raise
        except OSError as exc:
            raise PublishError(f"outbox {self.path} cannot be opened ({exc.strerror})") from None
        log.debug("appending to %s", self.description)

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: Mapping[str, Any]
    ) -> None:
        if self._fd is None:
            raise RuntimeError("publish() before open() or after close()")
        if exchange not in self._exchanges:
            raise PublishError(
                f"exchange {exchange!r} was not declared (declared: "
                f"{', '.join(sorted(self._exchanges))}); add it to output_queue"
            )
        line = _encode_line(exchange, routing_key, body, properties)
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _WRITE_BATCH_BYTES:
            self._write_pending()

    def confirm_all(self) -> None:
        if self._fd is None:
            raise RuntimeError("confirm_all() before open() or after close()")
        self._write_pending()
        if self._unsynced:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise PublishError(
                    f"outbox {self.path} could not be synced ({exc.strerror}); "
                    "the messages are not confirmed"
                ) from None
            self._unsynced = 0

    def close(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _write_pending(self) -> None:
        if not self._pending:
            return
        assert self._fd is not None
        data = b"".join(self._pending)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                if size and os.pread(self._fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a crash cut the last line short: start a fresh one
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise PublishError(
                f"outbox {self.path} could not be written ({exc.strerror}); "
                "the messages are not confirmed"
            ) from None
        self._unsynced += len(self._pending)
        self._pending.clear()
        self._pending_bytes = 0


def iter_outbox(path: str | os.PathLike[str]) -> Iterator[OutboxMessage]:
    """Yield the messages of an outbox file in order, skipping damaged lines (logged).

    Raises:
        PublishError: the path is missing, unreadable, or not a regular file.
    """
    path = Path(path)
    with os.fdopen(open_regular_file(path, "outbox", error=PublishError), "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                body_text = record["body"]
                if record.get("body_encoding") == "base64":
                    body = base64.b64decode(body_text, validate=True)
                else:
                    body = body_text.encode("utf-8")
                yield OutboxMessage(
                    record["exchange"], record["routing_key"], record["properties"], body
                )
            except (ValueError, KeyError, TypeError, binascii.Error):
                log.warning("%s line %d is damaged (cut short by a crash?); skipped", path, number)


def read_outbox(path: str | os.PathLike[str]) -> list[OutboxMessage]:
    """All messages of an outbox file (see `iter_outbox`)."""
    return list(iter_outbox(path))
