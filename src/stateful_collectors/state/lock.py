"""The single-instance lock of a state file: one running instance of a collector at a time."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from stateful_collectors.errors import AlreadyRunningError, StateFileError
from stateful_collectors.fs import open_private_file

__all__ = ["LockHolder", "SingleInstanceLock"]

_READ_RETRIES = 100  # x 10 ms: how long a loser waits for the winner to write who it is


class LockHolder:
    """Who holds a lock: the line the holder wrote into the lock file, read back.

    The line is `<pid> <start time, UTC ISO 8601> <host>`, e.g.
    `4242 2026-11-27T20:00:00Z host-a`.
    """

    __slots__ = ("pid", "since", "host")

    def __init__(self, pid: int, since: str, host: str) -> None:
        self.pid = pid
        self.since = since
        self.host = host

    @classmethod
    def of_this_process(cls) -> LockHolder:
        return cls(
            os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.uname().nodename
        )

    def line(self) -> bytes:
        return f"{self.pid} {self.since} {self.host}\n".encode()

    @classmethod
    def parse(cls, data: bytes) -> LockHolder | None:
        """The holder a complete line names (`None`: empty, cut short, or not such a line)."""
        line, newline, _ = data.partition(b"\n")
        if not newline:
            return None
        fields = line.decode("utf-8", "replace").split()
        if not fields or not fields[0].isdigit():
            return None
        since = fields[1] if len(fields) > 1 else "an unknown time"  # a lock file of 0.1
        host = fields[2] if len(fields) > 2 else ""
        return cls(int(fields[0]), since, host)

    def is_alive(self) -> bool:
        """False when the holder is certainly gone (a process of this host that has ended)."""
        if self.host and self.host != os.uname().nodename:
            return True  # another host's process: cannot tell from here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"pid {self.pid}, since {self.since}{where}"


class SingleInstanceLock:
    """An exclusive, non-blocking `flock` on a lock file: one running instance at a time.

    The kernel drops the lock when the holder's process ends, however it ends
    (even by SIGKILL), so a crash never leaves a stale lock. The file holds the
    holder's pid, start time and host, so that a run that finds the lock taken
    says who holds it and since when: a stuck run shows in the logs.

    The lock file is opened without following a link and checked before
    anything is written to it (see `stateful_collectors.fs.open_private_file`):
    a planted symlink or hard link is refused, never truncated.

    ```python
    import tempfile

    from stateful_collectors.errors import AlreadyRunningError
    from stateful_collectors.state.lock import SingleInstanceLock

    with tempfile.TemporaryDirectory() as directory:
        with SingleInstanceLock(f"{directory}/demo.lock", owner="Demo"):
            try:
                SingleInstanceLock(f"{directory}/demo.lock", owner="Demo").acquire()
            except AlreadyRunningError as error:
                print(str(error).split(" (")[0])
                #> Demo is already running
    ```
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
        try:
            fd = open_private_file(self.path, os.O_RDWR | os.O_CREAT, "lock file")
        except FileNotFoundError:
            raise StateFileError(
                f"lock file {self.path} cannot be created (its directory is gone); "
                "check the state dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder is not None else "pid unknown"
            raise AlreadyRunningError(
                f"{self.owner} is already running ({who}; holds {self.path}); this run did nothing"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            # Write first, then cut what an earlier, longer line left: a reader sees a
            # whole line (the new one, or the previous holder's, never an empty file).
            line = LockHolder.of_this_process().line()
            os.pwrite(fd, line, 0)
            os.ftruncate(fd, len(line))
        except OSError as exc:
            os.close(fd)
            raise StateFileError(
                f"lock file {self.path} cannot be written ({exc.strerror}); "
                "check the state dir's file system"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _read_holder(self, fd: int) -> LockHolder | None:
        """The holder the file names, waiting briefly while the new holder writes its line."""
        holder = None
        for _ in range(_READ_RETRIES):
            holder = LockHolder.parse(os.pread(fd, 512, 0))
            if holder is not None and holder.is_alive():
                return holder
            time.sleep(0.01)  # the winner took the lock a moment ago and writes its line now
        return holder

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
