"""The single-instance lock of a state file: one running instance of a collector at a time."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from stateful_collectors.errors import AlreadyRunningError, StateFileError

__all__ = ["SingleInstanceLock"]


class SingleInstanceLock:
    """An exclusive, non-blocking `flock` on a lock file: one running instance at a time.

    The kernel drops the lock when the holder's process ends, however it ends
    (even by SIGKILL), so a crash never leaves a stale lock. The file holds the
    holder's pid, for the error message only.

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
