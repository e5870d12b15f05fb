"""The state file: durable saves, safe loads, a single-instance lock, and the mixin.

A collector is an OS process that cron starts, that runs for a while and then
exits. Whatever it must remember until the next run (the time of the newest
item it published, say) has to live outside the process: in a *state file*.
`StatefulCollectorMixin` gives a collector three methods for it:

* `load_state()` returns the saved state, or `make_default_state()` on the first run;
* `save_state(state)` replaces the file durably: after it returns, a crash or a
  power cut leaves the new state; before it returns, the old one;
* `make_default_state()` is what the first run starts from (`None` unless overridden).

The file is a pickle by default, so almost any Python object can be a state;
set `state_codec = "json"` for states that are plain JSON data.

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

import errno
import fcntl
import json
import logging
import os
import pickle
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from stateful_collectors.errors import AlreadyRunningError, StateFileError, describe_exception

TYPE_CHECKING = False  # not `from typing import ...`: typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any, ClassVar, Protocol
else:
    Protocol = object  # StateCodec is a protocol for type checkers, a plain class at run time

__all__ = [
    "CODECS",
    "JsonCodec",
    "PickleCodec",
    "SingleInstanceLock",
    "StateCodec",
    "StateFile",
    "StatefulCollectorMixin",
    "write_durably",
]

log = logging.getLogger(__name__)

_VERSION_KEY = "state_version"
_STATE_KEY = "state"


# ---------------------------------------------------------------- codecs


class StateCodec(Protocol):
    """How a state object becomes bytes in the file, and back."""

    name: str
    suffix: str

    def dumps(self, state: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class PickleCodec:
    """Pickle (protocol 5): almost any Python object round-trips exactly.

    Unpickling runs code named in the file, so the file is checked before it is
    read (see `read_state_bytes`).
    """

    name = "pickle"
    suffix = ".pickle"

    def dumps(self, state: Any) -> bytes:
        return pickle.dumps(state, protocol=5)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


class JsonCodec:
    """JSON: human-readable, for states made of dicts, lists, strings, numbers, bools, None.

    Tuples come back as lists and dict keys must be strings.
    """

    name = "json"
    suffix = ".json"

    def dumps(self, state: Any) -> bytes:
        try:
            text = json.dumps(state, ensure_ascii=False, sort_keys=True, indent=2)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"state is not plain JSON data ({exc}); use state_codec = 'pickle' "
                "or convert it before save_state()"
            ) from None
        return (text + "\n").encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))


CODECS: dict[str, StateCodec] = {"pickle": PickleCodec(), "json": JsonCodec()}
"""The codecs `state_codec` may name."""


# ---------------------------------------------------------------- durable write


class _OsCalls:
    """The system calls a save makes, in one place so tests can record them.

    The power-cut test swaps `stateful_collectors.state._fs` for a recorder that
    passes each call through to `os` and notes what was made durable.
    """

    open = staticmethod(os.open)
    write = staticmethod(os.write)
    fsync = staticmethod(os.fsync)
    close = staticmethod(os.close)
    replace = staticmethod(os.replace)
    unlink = staticmethod(os.unlink)


_fs = _OsCalls()


def write_durably(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` so that a crash leaves old or new, never a mix.

    Writes a temporary file in the same directory (mode 0600), fsyncs it,
    renames it over `path`, then fsyncs the directory so the rename itself
    survives a power cut. On any error before the rename the temporary file is
    removed and the old file is untouched; if only the final directory fsync
    fails, the new file is already in place and the error says so.
    """
    # Plain strings, not Path objects: a save is on every run's path (benchmarks/).
    path = os.fspath(path)
    directory, name = os.path.split(path)
    directory = directory or "."
    temp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}.tmp")
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _fs.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = _fs.write(fd, view)
                    view = view[written:]
                _fs.fsync(fd)
            finally:
                _fs.close(fd)
            _fs.replace(temp, path)
        except BaseException:
            try:
                _fs.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        try:
            _fs.fsync(dir_fd)
        except OSError as exc:  # too late to keep the old file: say what is on the disk
            raise OSError(
                exc.errno,
                f"{exc.strerror}; the new state is in {path}, but its directory could not "
                "be synced, so a power cut could still bring back the previous state",
            ) from exc
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------- safe read


def _check_directory(directory: str, info: os.stat_result, state_file: str) -> None:
    if not stat.S_ISDIR(info.st_mode):
        raise StateFileError(
            f"state dir {directory} is not a directory; point state_dir at a directory"
        )
    if info.st_mode & 0o022:
        raise StateFileError(
            f"state dir {directory} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so anyone could replace "
            f"{os.path.basename(state_file)}; fix with: chmod go-w {directory}"
        )


def read_state_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the state file, or `None` if there is none; checked before reading.

    Refuses a state dir writable by group or others, and a state file that is a
    symlink, not a regular file, not owned by the current user, or writable by
    group or others: unpickling such a file could run someone else's code.
    """
    # Every run loads its state: plain strings and as few system calls as the
    # checks allow (stat of the dir, open, fstat, one read, close).
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    try:
        _check_directory(directory, os.stat(directory), path)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateFileError(
                f"state file {path} is a symlink; replace it by the real file "
                "(a collector never follows a link to its state)"
            ) from None
        raise StateFileError(
            f"state file {path} cannot be opened ({exc.strerror}); fix its permissions"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateFileError(
                f"state file {path} is not a regular file; move it away so the collector "
                "can write its own"
            )
        if info.st_uid != os.geteuid():
            raise StateFileError(
                f"state file {path} belongs to uid {info.st_uid}, not to this user "
                f"(uid {os.geteuid()}); run the collector as its owner or chown the file"
            )
        if info.st_mode & 0o022:
            raise StateFileError(
                f"state file {path} is writable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); fix with: chmod 600 {path}"
            )
        # One read of one byte more than the size: a short read means the end was reached.
        data = os.read(fd, info.st_size + 1)
        if len(data) > info.st_size:  # the file grew meanwhile: read the rest
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError as exc:
        raise StateFileError(f"state file {path} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the file


class StateFile:
    """One state file: load it safely, save it durably.

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
        self.path = Path(path)
        self.codec = _codec(codec)
        self._reset_hint = reset_hint
        self._path = os.fspath(self.path)  # the hot paths use strings (see benchmarks/)
        self._directory = os.path.dirname(self._path) or "."

    def load(self, default: Callable[[], Any]) -> Any:
        """The saved state, or `default()` (with a warning) when there is no file yet.

        Raises:
            StateFileError: the file is empty, damaged or unsafe; it is left as it is.
        """
        data = read_state_bytes(self._path)
        if data is None:
            log.warning("state file %s not found; starting from the default state", self.path)
            return default()
        if not data:
            raise self._damaged("is empty")
        try:
            return self.codec.loads(data)
        except Exception as exc:  # a damaged pickle can raise almost anything
            problem = f"cannot be decoded as {self.codec.name} ({describe_exception(exc)})"
            raise self._damaged(problem) from None

    def save(self, state: Any) -> None:
        """Encode `state` and replace the file durably (see `write_durably`).

        The state is encoded first: an object the codec cannot encode raises
        before anything on disk changes.
        """
        data = self.codec.dumps(state)
        self.ensure_directory()
        write_durably(self._path, data)

    def ensure_directory(self) -> None:
        """Create the state dir with mode 0700 if it is missing; refuse an unsafe one."""
        directory = self._directory
        try:
            info = os.stat(directory)
        except FileNotFoundError:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
            info = os.stat(directory)
        _check_directory(directory, info, self._path)

    def _damaged(self, problem: str) -> StateFileError:
        way_out = (
            f"run '{self._reset_hint}' to start over (a backup is kept)"
            if self._reset_hint
            else "move it aside to start over from the default state"
        )
        return StateFileError(
            f"state file {self.path} {problem}; it was left untouched: restore it from a backup "
            f"or {way_out}"
        )


def _codec(codec: str | StateCodec) -> StateCodec:
    if isinstance(codec, str):
        try:
            return CODECS[codec]
        except KeyError:
            raise ValueError(
                f"unknown state_codec {codec!r}; use one of: {', '.join(CODECS)}"
            ) from None
    return codec


# ---------------------------------------------------------------- the lock


class SingleInstanceLock:
    """An exclusive, non-blocking `flock` on a lock file: one running instance at a time.

    The kernel drops the lock when the holder's process ends, however it ends
    (even by SIGKILL), so a crash never leaves a stale lock. The file holds the
    holder's pid, for the error message only.
    """

    def __init__(self, path: str | os.PathLike[str], *, owner: str = "this collector") -> None:
        self.path = Path(path)
        self.owner = owner
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise `AlreadyRunningError` at once (never waits)."""
        if self._fd is not None:
            return
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise StateFileError(
                f"lock file {self.path} cannot be opened ({exc.strerror}); "
                "check that the state dir is yours and writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunningError(
                f"{self.owner} is already running (pid {holder} holds {self.path}); "
                "this run did nothing"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (closing the file releases the `flock`)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> SingleInstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


# ---------------------------------------------------------------- the mixin


class StatefulCollectorMixin:
    """Keeps a collector's state in a file between runs.

    Put it before the base class (`class C(StatefulCollectorMixin, BaseCollector)`)
    and keep calling `super().__init__(**kwargs)`. `__init__` joins the
    `state_dir` option of `self.config` with `get_state_file_name()`; nothing
    touches the disk until `load_state()`.

    The first `load_state()` (or `save_state()`) takes the single-instance lock, a
    `flock` on `<state file>.lock`, held until the process ends or `close()`: a
    second run of the same collector started meanwhile raises
    `AlreadyRunningError` before it loads anything.

    Attributes:
        state_codec: `"pickle"` (default) or `"json"`, or a `StateCodec` object.
        state_version: `None` (default) stores the state as it is. An integer
            stores `{"state_version": n, "state": state}`; loading a file with an
            older version (an unversioned file counts as version 0) passes it
            through `migrate_state()` first.
    """

    state_codec: ClassVar[str | StateCodec] = "pickle"
    state_version: ClassVar[int | None] = None

    config: Any  # provided by the collector base class

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            state_dir = self.config["state_dir"]
        except KeyError:
            raise TypeError(
                f"{type(self).__qualname__} uses StatefulCollectorMixin but its config has no "
                "'state_dir'; add 'state_dir :: path' to its config_spec"
            ) from None
        cls = type(self)
        self._state_file = StateFile(
            Path(state_dir) / self.get_state_file_name(),
            self.state_codec,
            reset_hint=f"stateful-collectors state reset {_import_path(cls)}",
        )
        self._state_lock = SingleInstanceLock(
            self._state_file.path.with_name(self._state_file.path.name + ".lock"),
            owner=cls.__qualname__,
        )
        self.state_saved = False
        """Whether `save_state()` has completed in this process."""

    # -- the seed's API

    def get_state_file_name(self) -> str:
        """The file name (not path) of the state: `<module>.<qualname><suffix>`.

        When the collector's module runs as a script (`__main__`), the script's
        own module name is used instead (`python -m pkg.mod` gives `pkg.mod`,
        `python my_collector.py` gives `my_collector`), so the name does not
        change between running the file and importing it. Override to choose
        another name.
        """
        cls = type(self)
        return f"{_stable_module_name(cls)}.{cls.__qualname__}{self._state_file_suffix()}"

    def load_state(self) -> Any:
        """The state saved by the last successful run, or `make_default_state()`.

        Takes the single-instance lock first. A missing file logs one warning
        and gives the default; an empty, damaged or unsafe file raises
        `StateFileError` and is left untouched.
        """
        self.acquire_state_lock()
        loaded = self._state_file.load(default=_no_file)
        if loaded is _NO_FILE:
            return self.make_default_state()
        return self._unwrap_state(loaded)

    def save_state(self, state: Any) -> None:
        """Replace the state file durably with `state`.

        After it returns the new state survives a crash or a power cut; if it
        raises, the old file is byte-for-byte what it was and no temporary file
        is left.
        """
        self.acquire_state_lock()
        self._state_file.save(self._wrap_state(state))
        self.state_saved = True
        log.debug("state saved to %s", self._state_file.path)

    def make_default_state(self) -> Any:
        """The state of the very first run. Returns `None`; override it."""
        return None

    def checkpoint(self, state: Any) -> None:
        """Wait until everything published so far is confirmed, then `save_state(state)`.

        Call it every few hundred messages in a long run: a crash afterwards
        resumes from here, re-publishing only what came after the checkpoint.
        `state` must describe exactly what was published up to this call.
        """
        wait_for_confirms = getattr(self, "wait_for_confirms", None)
        if wait_for_confirms is not None:
            wait_for_confirms()
        self.save_state(state)

    # -- extras

    @property
    def state_file_path(self) -> Path:
        """The full path of the state file."""
        return self._state_file.path

    def migrate_state(self, state: Any, from_version: int) -> Any:
        """Turn a state saved with `from_version` into one of `state_version`.

        Called by `load_state()` only when `state_version` is set and the file is
        older. The default refuses; override it when you bump `state_version`.
        """
        raise StateFileError(
            f"state file {self.state_file_path} has state version {from_version} but "
            f"{type(self).__qualname__} expects {self.state_version} and defines no "
            "migrate_state(); add one, or reset the state"
        )

    def acquire_state_lock(self) -> None:
        """Take the single-instance lock now (a no-op when already held)."""
        if not self._state_lock.held:
            self._state_file.ensure_directory()
            self._state_lock.acquire()

    def close(self) -> None:
        """Release the single-instance lock; then let other base classes close."""
        self._state_lock.release()
        parent_close = getattr(super(), "close", None)
        if parent_close is not None:
            parent_close()

    # -- internals

    def _state_file_suffix(self) -> str:
        return _codec(self.state_codec).suffix

    def _wrap_state(self, state: Any) -> Any:
        if self.state_version is None:
            return state
        return {_VERSION_KEY: self.state_version, _STATE_KEY: state}

    def _unwrap_state(self, loaded: Any) -> Any:
        if self.state_version is None:
            return loaded
        if isinstance(loaded, dict) and set(loaded) == {_VERSION_KEY, _STATE_KEY}:
            version, state = loaded[_VERSION_KEY], loaded[_STATE_KEY]
        else:
            version, state = 0, loaded
        if not isinstance(version, int) or isinstance(version, bool):
            raise StateFileError(
                f"state file {self.state_file_path} has an invalid state version {version!r} "
                "(not a whole number); it was left untouched: restore it from a backup or "
                "reset the state"
            )
        if version > self.state_version:
            raise StateFileError(
                f"state file {self.state_file_path} has state version {version!r}, newer than "
                f"{type(self).__qualname__}'s {self.state_version}; run the newer collector "
                "version that wrote it"
            )
        if version < self.state_version:
            log.info(
                "migrating state of %s from version %s to %s",
                type(self).__qualname__,
                version,
                self.state_version,
            )
            state = self.migrate_state(state, version)
        return state


_NO_FILE: Any = object()  # what `load_state` asks `StateFile.load` to return when there is no file


def _no_file() -> Any:
    return _NO_FILE


def _stable_module_name(cls: type) -> str:
    module = cls.__module__
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in (None, "__main__"):
        return spec.name  # `python -m pkg` runs pkg.__main__: the name importing it gives
    main_file = getattr(main, "__file__", None)
    if main_file and not main_file.startswith("<"):  # "<stdin>" names no file
        return Path(main_file).stem
    raise TypeError(
        f"cannot give {cls.__qualname__} a stable state file name: it was defined in an "
        "interactive session; define it in a module or override get_state_file_name()"
    )


def _import_path(cls: type) -> str:
    """`MODULE:CLASS` as the `stateful-collectors state` commands accept it from here.

    A top-level module whose file is not in the current directory (a script, or
    a file the CLI loaded by path) is named by its path, relative when shorter.
    """
    try:
        module = _stable_module_name(cls)
    except TypeError:
        module = cls.__module__
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if file and "." not in module and os.path.dirname(os.path.abspath(file)) != os.getcwd():
        relative = os.path.relpath(file)
        module = relative if len(relative) < len(file) else file
    return f"{module}:{cls.__qualname__}"
