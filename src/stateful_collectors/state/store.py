"""Where a collector's state lives: the `StateStore` contract, and decoding what it holds.

A store keeps the state's bytes and the lock that lets one run at a time use
them. The mixin (`stateful_collectors.state.mixin`) turns the state into bytes
with its codec and asks the store for the rest, so a collector's code does
not change when its store does. The default store is a file in the state dir
(`stateful_collectors.state.files.FileStore`); a `[postgresql]` section in the
config (or `$STATEFUL_COLLECTORS_POSTGRESQL_DSN`) selects a row of a PostgreSQL
table instead (`stateful_collectors.state.postgresql.PostgresStore`), which
several hosts can share.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from stateful_collectors._value import Value
from stateful_collectors.errors import StateFileError, describe_exception
from stateful_collectors.state.codecs import PickleCodec, StateCodec

if TYPE_CHECKING:
    from stateful_collectors.config import ConfigSource

__all__ = [
    "POSTGRESQL_DSN_ENV_VAR",
    "Backup",
    "StateStore",
    "damaged_state_error",
    "decode_state",
    "decode_saved_state",
    "uses_postgresql",
]

POSTGRESQL_DSN_ENV_VAR = "STATEFUL_COLLECTORS_POSTGRESQL_DSN"
"""A libpq URL here overrides `[postgresql] dsn` (and selects the PostgreSQL store)."""


def uses_postgresql(source: ConfigSource, env: Mapping[str, str] | None = None) -> bool:
    """Whether the config asks for the PostgreSQL store (`[postgresql]`, or the variable)."""
    env = os.environ if env is None else env
    return bool(env.get(POSTGRESQL_DSN_ENV_VAR)) or source.has_section("postgresql")


class Backup(Value):
    """One kept copy of a state, as `stateful-collectors state backups` lists it."""

    __slots__ = ("name", "taken", "size", "detail")
    name: str
    """What `state restore` takes: a file's path, or `backup-N` for a PostgreSQL backup."""
    taken: str
    """When it was kept (UTC, ISO 8601)."""
    size: int
    """Its size in bytes."""
    detail: str
    """What else the store knows (the version, who saved it), or `""`."""

    def __init__(self, name: str, taken: str, size: int, detail: str = "") -> None:
        self._set(name, taken, size, detail)


class StateStore(Protocol):
    """What the mixin and the `state` commands need from a store of state bytes."""

    location: str
    """Where the state is, as `stateful-collectors state path` prints it."""
    description: str
    """The state as error messages name it: `state file /var/lib/...`."""
    kind: str
    """What the state is called in the commands' messages: `state file`, `state row`."""

    @property
    def lock_held(self) -> bool:
        """Whether this store object holds the single-instance lock now."""
        ...

    def acquire_lock(self) -> None:
        """Take the single-instance lock, or raise `AlreadyRunningError` at once."""
        ...

    def release_lock(self) -> None:
        """Give the lock back (also when it is not held)."""
        ...

    def check_writable(self) -> None:
        """Raise `StateFileError` now if a save would fail (before anything is fetched)."""
        ...

    def exists(self) -> bool:
        """Whether a state was saved (the bytes are not checked)."""
        ...

    def read(self) -> bytes | None:
        """The saved bytes, checked as safe to decode; `None` when nothing was saved yet."""
        ...

    def open_read(self) -> bytes | io.BufferedReader | None:
        """What `load_state()` decodes, checked as for `read()`; `None`: nothing saved yet.

        The saved bytes, or, for a large state, an open file to decode from, so
        that it is read once (`decode_saved_state` takes either).
        """
        ...

    def write(self, data: bytes) -> None:
        """Replace the saved bytes durably: after it returns, a crash keeps `data`."""
        ...

    def backup(self) -> str | None:
        """Keep the current bytes under another name; return it (`None`: nothing saved)."""
        ...

    def remove(self) -> None:
        """Delete the saved bytes durably (after `backup()`): the next run starts afresh."""
        ...

    def discard_backup(self, backup: str) -> None:
        """Delete a backup `backup()` just made (the change it was for did not happen)."""
        ...

    def restore_command(self, backup: str) -> str:
        """The shell command that puts `backup` back in place of the state."""
        ...

    def list_backups(self) -> list[Backup]:
        """The backups kept of this state, oldest first."""
        ...

    def read_backup(self, backup: str) -> bytes:
        """The bytes of one backup `list_backups()` names; `UsageError` for any other name."""
        ...


def damaged_state_error(description: str, problem: str, reset_hint: str | None) -> StateFileError:
    """The error for a state that exists but cannot be used; it names the way out."""
    way_out = (
        f"run '{reset_hint}' to start over (a backup is kept)"
        if reset_hint
        else "move it aside to start over from the default state"
    )
    return StateFileError(
        f"{description} {problem}; it was left untouched: restore it from a backup or {way_out}"
    )


def decode_state(
    codec: StateCodec, data: bytes, description: str, reset_hint: str | None = None
) -> Any:
    """Decode saved bytes; empty or undecodable bytes raise `StateFileError`."""
    if not data:
        raise damaged_state_error(description, "is empty", reset_hint)
    try:
        return codec.loads(data)
    except Exception as exc:  # a damaged pickle can raise almost anything
        problem = f"cannot be decoded as {codec.name} ({describe_exception(exc)})"
        raise damaged_state_error(description, problem, reset_hint) from None


def decode_saved_state(
    codec: StateCodec,
    saved: bytes | io.BufferedReader,
    description: str,
    reset_hint: str | None = None,
) -> Any:
    """Decode what `StateStore.open_read()` gave: bytes as `decode_state` does, or a file."""
    if isinstance(saved, bytes):
        return decode_state(codec, saved, description, reset_hint)
    with saved:
        try:
            if not saved.peek(1):
                raise damaged_state_error(description, "is empty", reset_hint)
            if isinstance(codec, PickleCodec):  # it reads large values straight into place
                return codec.load(saved)
            return codec.loads(saved.read())
        except StateFileError:
            raise
        except OSError as exc:
            raise StateFileError(f"{description} cannot be read ({exc.strerror})") from None
        except Exception as exc:  # a damaged pickle can raise almost anything
            problem = f"cannot be decoded as {codec.name} ({describe_exception(exc)})"
            raise damaged_state_error(description, problem, reset_hint) from None
