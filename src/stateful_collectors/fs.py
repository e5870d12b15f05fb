"""The file-system operations every part of the library shares, written once.

A collector often runs as a service user, in directories other users can see;
every file it opens goes through here, so that no part of the library follows
a planted link, truncates another file through a hard link, or blocks on a
FIFO:

* `open_private_file(path, flags, what)`: open a file the collector creates,
  appends to or locks (outbox, lock file), refusing a symlink, a non-regular
  file, another user's file, a file with several names (hard links), or one
  that group or others may write;
* `create_private_file(path)`: create a new file, never opening an existing
  one (backups, the write probe; `write_durably` does the same for its
  temporary files);
* `read_private_file(path, what)`: read a file that only its owner may change
  (a state file: decoding it could run code), with the same checks;
* `read_limited_file(path, what, max_bytes)`: read a file the collector only
  reads (a config file): regular files only, never blocking, at most
  `max_bytes`;
* `check_private_directory(directory, info, protected)`: refuse a directory
  that group or others may write, or that belongs to another user (root
  excepted): they could replace the files in it;
* `ensure_private_directory(directory, protected)`: create it (mode 0700)
  when it is missing, then check it; a path that cannot be a directory (a
  file, or a file on its way: `/dev/null/x`) is refused the same way;
* `write_durably(path, data)`: replace a file so that a crash leaves the old
  or the new content, never a mix (temp file, fsync, rename, directory fsync);
* `remove_temp_files(directory, name)`: remove what killed saves left behind;
* `fsync_directory(directory)`: make a rename, a creation or a removal in it durable.

Every refusal is one line naming the file and what to do, raised as the
`error` class the caller gives (`StateFileError` by default: exit status 4).

Example:
    ```python
    import os
    import tempfile

    from stateful_collectors.errors import StateFileError
    from stateful_collectors.fs import (
        open_private_file,
        read_private_file,
        write_durably,
    )

    with tempfile.TemporaryDirectory() as directory:
        write_durably(f"{directory}/data", b"hello")
        print(read_private_file(f"{directory}/data", "data file"))
        #> b'hello'
        print(read_private_file(f"{directory}/missing", "data file"))
        #> None
        os.symlink("/etc/passwd", f"{directory}/planted")
        try:
            open_private_file(
                f"{directory}/planted", os.O_WRONLY | os.O_APPEND, "outbox"
            )
        except StateFileError as error:
            print(str(error).replace(directory, "/srv").split(";")[0])
            #> outbox /srv/planted is a symlink
    ```
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat

from stateful_collectors.errors import CollectorError, StateFileError
from stateful_collectors.runtime.output import shell_word

__all__ = [
    "check_private_directory",
    "create_private_file",
    "ensure_private_directory",
    "fsync_directory",
    "open_private_file",
    "open_regular_file",
    "read_limited_file",
    "open_private_reader",
    "read_private_file",
    "remove_temp_files",
    "temp_file_pattern",
    "write_durably",
]

_SAFE_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _OsCalls:
    """The system calls a durable write makes, in one place so tests can record them.

    The power-cut and disk-fault tests swap `stateful_collectors.fs._fs` for an
    object that passes each call through to `os` and notes (or fails) it.
    """

    open = staticmethod(os.open)
    write = staticmethod(os.write)
    fsync = staticmethod(os.fsync)
    close = staticmethod(os.close)
    replace = staticmethod(os.replace)
    unlink = staticmethod(os.unlink)


_fs = _OsCalls()


def _kind(mode: int) -> str:
    """What a non-regular file is, in words (`a regular file` for one)."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


_MOVE_IT_AWAY = "move it away so the collector can write its own"


def _refuse_unsafe(
    info: os.stat_result,
    path: str,
    what: str,
    error: type[CollectorError],
    *,
    single_link: bool,
    remedy: str = _MOVE_IT_AWAY,
) -> None:
    """Raise `error` if the opened file is not a regular, private file of this user."""
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path} is not a regular file; {remedy}")
    if info.st_uid != os.geteuid():
        raise error(
            f"{what} {path} belongs to uid {info.st_uid}, not to this user "
            f"(uid {os.geteuid()}); run the collector as its owner or chown the file"
        )
    if single_link and info.st_nlink != 1:
        raise error(
            f"{what} {path} has {info.st_nlink} names (hard links), so writing it would "
            "change another file too; move it away so the collector can create its own"
        )
    if info.st_mode & 0o022:
        raise error(
            f"{what} {path} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); fix with: chmod 600 {shell_word(path)}"
        )


def _open_error(
    exc: OSError,
    path: str,
    what: str,
    error: type[CollectorError],
    remedy: str = _MOVE_IT_AWAY,
) -> CollectorError:
    if exc.errno == errno.ELOOP:
        return error(
            f"{what} {path} is a symlink; replace it by the real file "
            f"(a collector never follows a link to its {what})"
        )
    if exc.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.ETXTBSY):
        return error(f"{what} {path} is not a regular file; {remedy}")
    hint = {
        errno.EACCES: "; fix its permissions",
        errno.EPERM: "; fix its permissions",
        errno.EROFS: "; its file system is mounted read-only: give the collector a writable one",
        errno.ENOSPC: "; free some space",
        errno.EDQUOT: "; free some space (the user's quota is used up)",
    }.get(exc.errno or 0, "")
    return error(f"{what} {path} cannot be opened ({exc.strerror}){hint}")


def open_private_file(
    path: str | os.PathLike[str],
    flags: int,
    what: str,
    *,
    mode: int = 0o600,
    error: type[CollectorError] = StateFileError,
    remedy: str = _MOVE_IT_AWAY,
) -> int:
    """Open a file the collector writes or locks, and return its descriptor; checked first.

    `flags` are `os.open` flags (`os.O_RDWR | os.O_CREAT`...); a symlink is
    never followed (`O_NOFOLLOW`), a FIFO never blocks the open (`O_NONBLOCK`),
    and the descriptor is not inherited by child processes (`O_CLOEXEC`).
    Refuses, with `error` naming the file as `what`, and before anything is
    written: a symlink, a file that is not regular, another user's file, a
    file with several names (a hard link to it would be written too), and a
    file that group or others may write. Nothing is truncated before the
    checks: `O_TRUNC` is refused here (truncate after, if you must).
    `remedy` says what to do about a file that is not regular. A missing
    file (without `O_CREAT`) and an existing one (with `O_EXCL`) raise
    `FileNotFoundError` and `FileExistsError`, for the caller to decide.
    """
    if flags & os.O_TRUNC:
        raise ValueError("open_private_file() does not truncate before its checks; drop O_TRUNC")
    path = os.fspath(path)
    try:
        fd = os.open(path, flags | _SAFE_OPEN, mode)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as exc:
        raise _open_error(exc, path, what, error, remedy) from None
    try:
        _refuse_unsafe(os.fstat(fd), path, what, error, single_link=True, remedy=remedy)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private_file(path: str | os.PathLike[str]) -> int:
    """Create a new file (mode 0600) for writing and return its descriptor; never an existing one.

    `O_EXCL` with `O_NOFOLLOW`: whatever already has the name (a file, a
    planted symlink, a FIFO) makes it fail with `FileExistsError`, so the file
    is this user's own, new and regular. Other failures raise their `OSError`
    (`EACCES`, `EROFS`, `ENOSPC`...), for the caller to name the directory.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _SAFE_OPEN
    return os.open(path, flags, 0o600)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a file created, renamed or removed in it stays so."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_file_pattern(name: str) -> re.Pattern[str]:
    """The names `write_durably` gives its temporary files for the file `name`."""
    return re.compile(rf"^\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp$")


def write_durably(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` so that a crash leaves old or new, never a mix.

    Writes a temporary file `.NAME.xxxxxxxx.tmp` in the same directory (mode
    0600, created exclusively: never an existing file or link), fsyncs it,
    renames it over `path`, then fsyncs the directory so the rename itself
    survives a power cut. On any error before the rename the temporary file is
    removed and the old file is untouched; if only the final directory fsync
    fails, the new file is already in place and the error says so. A killed
    process leaves its temporary file behind: `remove_temp_files` clears them.
    """
    # Plain strings, not Path objects: a save is on every run's path (benchmarks/).
    path = os.fspath(path)
    directory, name = os.path.split(path)
    directory = directory or "."
    temp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}.tmp")
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = _fs.open(temp, flags, 0o600)
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


def remove_temp_files(directory: str, name: str, *, extra: tuple[str, ...] = ()) -> int:
    """Remove the temporary files that killed saves of `name` left in `directory`.

    Only this user's regular files whose names `write_durably` would give
    (`.NAME.xxxxxxxx.tmp`), and the exact names in `extra`, are removed; the
    caller must hold the file's lock, so no save is under way. Returns how
    many were removed (the directory is fsynced if any was).
    """
    pattern = temp_file_pattern(name)
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for entry in names:
        if not (entry in extra or pattern.match(entry)):
            continue
        full = os.path.join(directory, entry)
        try:
            info = os.lstat(full)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.unlink(full)
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        fsync_directory(directory)
    return removed


def check_private_directory(
    directory: str,
    info: os.stat_result,
    protected: str,
    *,
    what: str = "state dir",
    option: str = "state_dir",
    names_a_file: bool = False,
) -> None:
    """Refuse a directory that is no directory, another user's, or that group or others may write.

    `protected` names the file the directory holds, for the message: whoever
    can write the directory can replace that file. The directory must belong
    to this user or to root (root's directories are root's to protect).
    `what` and `option` name the directory and the setting that chose it;
    `names_a_file` says the setting names a file in the directory (an outbox).
    """
    if not stat.S_ISDIR(info.st_mode):
        raise StateFileError(
            f"{what} {directory} is not a directory (it is {_kind(info.st_mode)}); "
            f"{_point(option, names_a_file)}"
        )
    if info.st_uid not in (os.geteuid(), 0):
        raise StateFileError(
            f"{what} {directory} belongs to uid {info.st_uid}, who could replace "
            f"{os.path.basename(protected)}; use a directory of your own (uid "
            f"{os.geteuid()}) for {option}"
        )
    if info.st_mode & 0o022:
        raise StateFileError(
            f"{what} {directory} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so anyone could replace "
            f"{os.path.basename(protected)}; fix with: chmod go-w {shell_word(directory)}"
        )


def ensure_private_directory(
    directory: str,
    protected: str,
    *,
    what: str = "state dir",
    option: str = "state_dir",
    names_a_file: bool = False,
) -> None:
    """Create `directory` (mode 0700, made durable) if it is missing, then check it.

    Refuses with `StateFileError`, naming `what` and `option`, a directory
    that `check_private_directory` refuses, and a path that is no directory
    or cannot become one: a file, a path through a file (`/dev/null/x`), a
    parent the user may not write, a name too long.
    """
    try:
        try:
            info = os.stat(directory)
        except FileNotFoundError:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
            fsync_directory(os.path.dirname(os.path.abspath(directory)))
            info = os.stat(directory)
    except OSError as exc:
        raise _directory_error(exc, directory, what, option, names_a_file) from None
    check_private_directory(
        directory, info, protected, what=what, option=option, names_a_file=names_a_file
    )


def _point(option: str, names_a_file: bool) -> str:
    where = "a file in a directory" if names_a_file else "a directory"
    return f"point {option} at {where}"


def _directory_error(
    exc: OSError, directory: str, what: str, option: str, names_a_file: bool
) -> StateFileError:
    """What to say when `directory` cannot be reached or made."""
    if exc.errno == errno.ENOTDIR:  # a file where a directory must be: say which one
        path = os.path.abspath(directory)
        while path != os.path.dirname(path):
            path = os.path.dirname(path)
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                return StateFileError(
                    f"{what} {directory} is not a directory ({path} is "
                    f"{_kind(info.st_mode)}); {_point(option, names_a_file)}"
                )
        return StateFileError(
            f"{what} {directory} is not a directory; {_point(option, names_a_file)}"
        )
    hint = {
        errno.EACCES: f"give the collector's user access to it, or point {option} elsewhere",
        errno.EPERM: f"give the collector's user access to it, or point {option} elsewhere",
        errno.EROFS: f"its file system is mounted read-only; point {option} at a writable one",
        errno.ENOSPC: "free some space on its file system",
        errno.ENAMETOOLONG: f"point {option} at a shorter path",
        errno.ELOOP: f"point {option} at a path without a loop of symlinks",
    }.get(exc.errno or 0, f"point {option} at a directory the collector's user can create")
    return StateFileError(f"{what} {directory} cannot be created ({exc.strerror}); {hint}")


def _open_checked_for_reading(path: str, what: str) -> tuple[int, int] | None:
    """A descriptor of the file at `path` once it passed the checks, and its size.

    `None` if there is no file (or no directory).
    """
    directory = os.path.dirname(path) or "."
    try:
        check_private_directory(directory, os.stat(directory), path)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _SAFE_OPEN)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _open_error(exc, path, what, StateFileError) from None
    try:
        info = os.fstat(fd)
        # A state file is replaced by a rename, never written in place: its links do not matter.
        _refuse_unsafe(info, path, what, StateFileError, single_link=False)
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def read_private_file(path: str | os.PathLike[str], what: str) -> bytes | None:
    """The bytes of the file at `path`, or `None` if there is none; checked before reading.

    Refuses (with `StateFileError`, naming the file as `what`) a directory
    that another user owns or that group or others may write, and a file that
    is a symlink, not a regular file, not owned by the current user, or
    writable by group or others: decoding such a file (a pickle, say) could
    run someone else's code.
    """
    path = os.fspath(path)
    opened = _open_checked_for_reading(path, what)
    return None if opened is None else _read_and_close(*opened, path, what)


def open_private_reader(
    path: str | os.PathLike[str], what: str, *, stream_above: int = 1 << 20
) -> bytes | io.BufferedReader | None:
    """The file at `path`, checked as `read_private_file` checks it, ready to decode.

    Up to `stream_above` bytes: its content, read in one call. Larger: the
    file itself, open, for a decoder that reads it (`pickle.load`): a large
    state is then read once, straight into the objects it holds, instead of
    into one string of bytes first and copied from there. `None` if there is
    no file.
    """
    # Every run loads its state: plain strings and as few system calls as the
    # checks allow (stat of the dir, open, fstat, reads, close).
    path = os.fspath(path)
    opened = _open_checked_for_reading(path, what)
    if opened is None:
        return None
    fd, size = opened
    if size > stream_above:
        # Not open(fd, "rb"): for a descriptor it costs a few microseconds more than this.
        return io.BufferedReader(io.FileIO(fd, closefd=True))
    return _read_and_close(fd, size, path, what)


def _read_and_close(fd: int, size: int, path: str, what: str) -> bytes:
    try:
        # One read of one byte more than the size: a short read means the end was reached.
        data = os.read(fd, size + 1)
        if len(data) > size:  # the file grew meanwhile: read the rest
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError as exc:
        raise StateFileError(f"{what} {path} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def open_regular_file(
    path: str | os.PathLike[str], what: str, *, error: type[CollectorError] = StateFileError
) -> int:
    """Open a file the collector only reads, and return its descriptor: a regular file only.

    Links are followed (an administrator may link a config file into place),
    but a FIFO, a device (`/dev/zero`, `/dev/urandom`) or a directory is
    refused at once, without blocking. Every refusal is one `error` line that
    starts with the path.
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; check the path or create the file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {what}") from None
    except PermissionError:
        raise error(f"{path}: {what} not readable (permission denied); fix its mode") from None
    except OSError as exc:
        raise error(f"{path}: {what} cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(
                f"{path}: is {_kind(info.st_mode)}, not a {what}; give the path of a regular file"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_limited_file(
    path: str | os.PathLike[str],
    what: str,
    max_bytes: int,
    *,
    error: type[CollectorError] = StateFileError,
) -> bytes:
    """The bytes of a file the collector only reads (a config file), at most `max_bytes`.

    Opened as `open_regular_file` does (a regular file only, never blocking);
    a file larger than `max_bytes` is refused before it is read, with one
    `error` line that starts with the path.
    """
    path = os.fspath(path)
    fd = open_regular_file(path, what, error=error)
    try:
        too_big = error(
            f"{path}: {what} is larger than {_size_text(max_bytes)}, the most a {what} may "
            "hold; check that it is the right file"
        )
        if os.fstat(fd).st_size > max_bytes:
            raise too_big
        chunks = []
        total = 0
        while chunk := os.read(fd, min(65536, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew after the fstat (or lies about its size: /proc)
                raise too_big
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: {what} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
