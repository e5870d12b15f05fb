"""The file-system operations every part of the library shares, written once.

* `write_durably(path, data)`: replace a file so that a crash leaves the old
  or the new content, never a mix (temp file, fsync, rename, directory fsync);
* `fsync_directory(directory)`: make a rename, a creation or a removal in it durable;
* `read_private_file(path, what)`: read a file that only its owner may change,
  refusing a symlink, a non-regular file, another user's file, or a file or
  directory that group or others may write.

Example:
    ```python
    import tempfile

    from stateful_collectors.fs import read_private_file, write_durably

    with tempfile.TemporaryDirectory() as directory:
        write_durably(f"{directory}/data", b"hello")
        print(read_private_file(f"{directory}/data", "data file"))
        #> b'hello'
        print(read_private_file(f"{directory}/missing", "data file"))
        #> None
    ```
"""

from __future__ import annotations

import errno
import os
import stat

from stateful_collectors.errors import StateFileError

__all__ = [
    "check_private_directory",
    "fsync_directory",
    "read_private_file",
    "write_durably",
]


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


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a file created, renamed or removed in it stays so."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def check_private_directory(directory: str, info: os.stat_result, protected: str) -> None:
    """Refuse a directory that is no directory, or that group or others may write.

    `protected` names the file the directory holds, for the message: whoever
    can write the directory can replace that file.
    """
    if not stat.S_ISDIR(info.st_mode):
        raise StateFileError(
            f"state dir {directory} is not a directory; point state_dir at a directory"
        )
    if info.st_mode & 0o022:
        raise StateFileError(
            f"state dir {directory} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so anyone could replace "
            f"{os.path.basename(protected)}; fix with: chmod go-w {directory}"
        )


def read_private_file(path: str | os.PathLike[str], what: str) -> bytes | None:
    """The bytes of the file at `path`, or `None` if there is none; checked before reading.

    Refuses (with `StateFileError`, naming the file as `what`) a directory
    writable by group or others, and a file that is a symlink, not a regular
    file, not owned by the current user, or writable by group or others:
    decoding such a file (a pickle, say) could run someone else's code.
    """
    # Every run loads its state: plain strings and as few system calls as the
    # checks allow (stat of the dir, open, fstat, one read, close).
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    try:
        check_private_directory(directory, os.stat(directory), path)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateFileError(
                f"{what} {path} is a symlink; replace it by the real file "
                "(a collector never follows a link to its state)"
            ) from None
        raise StateFileError(
            f"{what} {path} cannot be opened ({exc.strerror}); fix its permissions"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateFileError(
                f"{what} {path} is not a regular file; move it away so the collector "
                "can write its own"
            )
        if info.st_uid != os.geteuid():
            raise StateFileError(
                f"{what} {path} belongs to uid {info.st_uid}, not to this user "
                f"(uid {os.geteuid()}); run the collector as its owner or chown the file"
            )
        if info.st_mode & 0o022:
            raise StateFileError(
                f"{what} {path} is writable by group or others "
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
        raise StateFileError(f"{what} {path} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
