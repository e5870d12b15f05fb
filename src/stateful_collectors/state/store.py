"""Where a collector's state lives: the `StateStore` contract, and decoding what it holds.

A store keeps the state's bytes and the lock that lets one run at a time use
them. The mixin (`stateful_collectors.state.mixin`) turns the state into bytes
with its codec and asks the store for the rest, so a collector's code does
not change when its store does. Which store a collector gets is the config's
choice (`stateful_collectors.state.stores.store_from_config`): a file in the
state dir by default, or a row of a PostgreSQL table that several hosts share.

A store's class makes a store from the config and a `StoreRequest`, what the
mixin tells it of the collector (`StoreClass`); the store then keeps the
`StateStore` contract. The decoding helpers below are shared by the stores
and the mixin, so that a damaged state is refused the same way everywhere.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stateful_collectors._value import Value
from stateful_collectors.errors import StateFileError, describe_exception
from stateful_collectors.state.codecs import PickleCodec, StateCodec

if TYPE_CHECKING:
    from stateful_collectors.config import ConfigSource

__all__ = [
    "Backup",
    "StateStore",
    "StoreClass",
    "StoreRequest",
    "damaged_state_error",
    "decode_state",
    "decode_saved_state",
]


class StoreRequest(Value):
    """What a store is told of the collector whose state it keeps (the mixin makes it)."""

    __slots__ = ("key", "codec", "owner", "reset_hint", "target", "state_dir")
    key: str
    """The state's name: the state file's name (`get_state_file_name()`), a row's key."""
    codec: str
    """The name of the collector's codec: `pickle` or `json`."""
    owner: str
    """Who holds the lock, as the "already running" message names it: the class's name."""
    reset_hint: str | None
    """The command that resets the state, for the message about a damaged one."""
    target: str
    """The collector as the `state` commands that messages suggest take it: `MODULE:CLASS`,
    and `--config FILE` when the run was given one."""
    state_dir: Path | None
    """The config's `state_dir` (or its default); `None` when the config has no such option."""

    def __init__(
        self,
        key: str,
        *,
        codec: str,
        owner: str,
        reset_hint: str | None = None,
        target: str = "MODULE:CLASS",
        state_dir: Path | None = None,
    ) -> None:
        self._set(key, codec, owner, reset_hint, target, state_dir)


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


class StoreClass(Protocol):
    """What `store_from_config` needs of a store's class: a store made from the config."""

    def from_config(
        self, source: ConfigSource, request: StoreRequest, env: Mapping[str, str]
    ) -> StateStore:
        """The store for `request`'s collector, configured by `source` (and `env`)."""
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
