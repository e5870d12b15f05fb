"""The default state store: one file in the state dir, replaced durably, locked with `flock`.

Example:
    ```python
    import tempfile

    from stateful_collectors.state import StateFile

    with tempfile.TemporaryDirectory() as state_dir:
        state_file = StateFile(f"{state_dir}/demo.pickle")
        print(state_file.load(default=lambda: {"last_utc": None}))
        #> {'last_utc': None}
        state_file.save({"last_utc": "2026-11-27T20:00:00Z"})
        print(state_file.load(default=dict))
        #> {'last_utc': '2026-11-27T20:00:00Z'}
    ```
"""

from __future__ import annotations

import datetime as dt
import errno
import io
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stateful_collectors.errors import StateFileError, StateSaveError, UsageError
from stateful_collectors.fs import (
    create_private_file,
    ensure_private_directory,
    fsync_directory,
    open_private_reader,
    read_private_file,
    remove_temp_files,
    write_durably,
)
from stateful_collectors.runtime import interrupts
from stateful_collectors.runtime.output import shell_word
from stateful_collectors.state.codecs import StateCodec, codec_named
from stateful_collectors.state.lock import SingleInstanceLock
from stateful_collectors.state.store import Backup, StoreRequest, decode_saved_state

if TYPE_CHECKING:
    from stateful_collectors.config import ConfigSource

__all__ = ["StateFile"]

log = logging.getLogger("stateful_collectors.state")  # the mixin's logger: logs name the state

_MIN_PROBE_BYTES = 512
"""What the write probe reserves at least (the state's own size when it is bigger)."""

_WHAT_TO_DO = {
    errno.EACCES: "give the collector's user write access to it",
    errno.EPERM: "give the collector's user write access to it",
    errno.EROFS: "its file system is mounted read-only; remount it read-write or move state_dir",
    errno.ENOSPC: "free some space on its file system",
    errno.EDQUOT: "free some space (the user's disk quota is used up)",
    errno.EFBIG: "the process may not write files that big (ulimit -f); raise that limit",
}


def _reserve(fd: int, size: int) -> None:
    """Take `size` bytes of disk for the file `fd` (ENOSPC or EDQUOT when there is no room)."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.write(fd, bytes(size))  # a file system without fallocate: write, then sync
        os.fsync(fd)


class FileStore:
    """A `StateStore` in one file: `<path>`, locked through `<path>.lock`.

    Args:
        path: the state file; its directory is created (mode 0700) when needed.
        owner: who holds the lock, for the "already running" message.
    """

    def __init__(self, path: str | os.PathLike[str], *, owner: str = "this collector") -> None:
        self.path = Path(path)
        self._path = os.fspath(self.path)  # the hot paths use strings (see benchmarks/)
        self._directory = os.path.dirname(self._path) or "."
        self.location = self._path
        self.description = f"state file {self._path}"
        self.kind = "state file"
        self._lock = SingleInstanceLock(f"{self._path}.lock", owner=owner)
        self._name = os.path.basename(self._path)
        self._probe = f".{self._name}.probe"
        self._swept_by: int | None = None  # the process that removed the leftovers

    @classmethod
    def from_config(
        cls, source: ConfigSource, request: StoreRequest, env: Mapping[str, str]
    ) -> FileStore:
        """The file `<state_dir>/<key>`; the config must have a `state_dir` option."""
        if request.state_dir is None:
            raise TypeError(
                f"{request.owner} uses StatefulCollectorMixin but its config has no "
                "'state_dir'; add 'state_dir :: path' to its config_spec"
            )
        return cls(request.state_dir / request.key, owner=request.owner)

    # -- the lock

    @property
    def lock_held(self) -> bool:
        return self._lock.held

    def acquire_lock(self) -> None:
        if not self._lock.held:
            self.ensure_directory()
            self._lock.acquire()
            self._swept_by = None

    def release_lock(self) -> None:
        self._lock.release()

    def _sweep(self) -> None:
        """Holding the lock: remove the temporary files that killed saves left behind.

        A killed process cannot remove its own; the next save (or the check
        before a run) does, holding the lock, so no save of this file is under
        way. Once per process and hold of the lock: a save that fails removes
        its own temporary file, so only another process's can be left over.
        """
        if self._lock.held and self._swept_by != os.getpid():
            self._swept_by = os.getpid()
            removed = remove_temp_files(self._directory, self._name, extra=(self._probe,))
            if removed:
                log.info("removed %d temporary file(s) left by killed saves", removed)

    # -- the bytes

    def exists(self) -> bool:
        return os.path.lexists(self._path)

    def read(self) -> bytes | None:
        return read_private_file(self._path, "state file")

    def open_read(self) -> bytes | io.BufferedReader | None:
        return open_private_reader(self._path, "state file")

    def write(self, data: bytes) -> None:
        """Replace the file durably; a failure raises `StateSaveError` naming it."""
        self.ensure_directory()
        try:
            self._sweep()
            write_durably(self._path, data)
        except OSError as exc:
            raise StateSaveError(
                f"state file {self._path} could not be saved ({exc.strerror})"
            ) from exc

    def check_writable(self) -> None:
        """Before anything is fetched (the lock held): raise if a save would fail.

        Creates `.NAME.probe` next to the state file, reserves on the disk as
        much as the current state takes (at least 512 bytes: a save writes a
        new copy beside the old one), and removes it. A read-only mount, a
        directory the user may not write (mode 0500), a full disk or a used-up
        quota fail here, with one line naming the directory.
        """
        self.ensure_directory()
        self._sweep()
        probe = os.path.join(self._directory, self._probe)
        try:
            size = max(os.stat(self._path).st_size, _MIN_PROBE_BYTES)
        except OSError:
            size = _MIN_PROBE_BYTES
        try:
            with interrupts.deferred():  # a signal never leaves the probe behind
                fd = create_private_file(probe)
                try:
                    _reserve(fd, size)
                finally:
                    os.close(fd)
                    os.unlink(probe)
        except OSError as exc:
            what_to_do = _WHAT_TO_DO.get(exc.errno or 0, "check the directory")
            raise StateFileError(
                f"state dir {self._directory} cannot take a new state file ({exc.strerror}), "
                f"so the state could not be saved after publishing; nothing was fetched: "
                f"{what_to_do}"
            ) from None

    def ensure_directory(self) -> None:
        """Create the state dir with mode 0700 if it is missing; refuse an unsafe one."""
        ensure_private_directory(self._directory, self._path)

    # -- the state commands

    def backup(self) -> str | None:
        """Keep the current file next to it as `<name>.<UTC time>.bak` (a hard link, or a copy)."""
        data = read_private_file(self._path, "state file")
        if data is None:
            return None
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        backup = os.path.join(self._directory, f"{self._name}.{stamp}.bak")
        try:
            os.link(self._path, backup)  # never replaces an existing name
        except FileExistsError:
            raise StateFileError(
                f"backup {backup} already exists; move it away and try again"
            ) from None
        except OSError:  # a file system without hard links: copy, into a new file only
            fd = create_private_file(backup)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(self._directory)
        return backup

    def remove(self) -> None:
        os.unlink(self._path)
        fsync_directory(self._directory)

    def discard_backup(self, backup: str) -> None:
        os.unlink(backup)

    def restore_command(self, backup: str) -> str:
        return f"cp -p {shell_word(backup)} {shell_word(self._path)}"

    def list_backups(self) -> list[Backup]:
        """The `<name>.<UTC time>.bak` files next to the state, oldest first."""
        prefix, found = f"{self.path.name}.", []
        for path in sorted(self.path.parent.glob(f"{self.path.name}.*.bak")):
            stamp = path.name[len(prefix) : -len(".bak")]
            try:
                taken = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ")
            except ValueError:
                continue  # not a backup this store made
            when = taken.replace(microsecond=0).isoformat() + "Z"
            found.append(Backup(os.fspath(path), when, path.lstat().st_size))
        return found

    def read_backup(self, backup: str) -> bytes:
        """A backup's bytes, read with the same checks as the state file itself."""
        wanted = os.path.basename(backup)
        here = os.path.realpath(os.path.dirname(backup) or self._directory)
        if here == os.path.realpath(self._directory):  # a name, or a path in the state dir
            for known in self.list_backups():
                if os.path.basename(known.name) == wanted:
                    data = read_private_file(known.name, "state backup")
                    if data is not None:
                        return data
        raise UsageError(
            f"{backup} is not a backup of {self.description}; "
            "'stateful-collectors state backups' lists them"
        )


class StateFile:
    """One state file on its own, without a collector: load it safely, save it durably.

    Args:
        path: where the file lives; its directory is created (mode 0700) on save.
        codec: `"pickle"` (default), `"json"`, or a `StateCodec` object.
        reset_hint: the command to suggest when the file is damaged.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        codec: str | StateCodec = "pickle",
        *,
        reset_hint: str | None = None,
    ) -> None:
        self.store = FileStore(path)
        self.path = self.store.path
        self.codec = codec_named(codec)
        self._reset_hint = reset_hint

    def load(self, default: Callable[[], Any]) -> Any:
        """The saved state, or `default()` (with a warning) when there is no file yet.

        Raises:
            StateFileError: the file is empty, damaged or unsafe; it is left as it is.
        """
        saved = self.store.open_read()
        if saved is None:
            log.warning("state file %s not found; starting from the default state", self.path)
            return default()
        return decode_saved_state(self.codec, saved, self.store.description, self._reset_hint)

    def save(self, state: Any) -> None:
        """Encode `state` and replace the file durably (see `write_durably`).

        The state is encoded first: an object the codec cannot encode raises
        before anything on disk changes.
        """
        self.store.write(self.codec.dumps(state))
