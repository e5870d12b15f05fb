"""Every exception a collector run can end with, and the exit status of each.

Every error a user can cause (a bad config file, a damaged state file, a second
instance started by cron while the first still runs) has its own class and a
one-line message that names the file, option or value and says what to do.
The command line prints that line and exits with the class's `exit_status`;
it never shows a traceback for them.

Example:
    ```python
    from stateful_collectors.errors import ConfigError, ExitStatus

    error = ConfigError("/etc/x.conf: [feed] option 'url' is required; add 'url = ...'")
    print(error.exit_status == ExitStatus.CONFIG_ERROR, int(error.exit_status))
    #> True 3
    ```
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from email.message import Message

__all__ = [
    "AlreadyRunningError",
    "CollectorError",
    "CollectorImportError",
    "CollectorStopped",
    "ConfigError",
    "ConfigSpecError",
    "DeadlineExceeded",
    "DownloadError",
    "ExitStatus",
    "Interrupted",
    "LockLostError",
    "OutputError",
    "PublishError",
    "SaveOutcomeUnknownError",
    "StateFileError",
    "StateSaveError",
    "UsageError",
]


class ExitStatus(enum.IntEnum):
    """Exit statuses of `stateful-collectors run` and of generated collector commands.

    A scheduler can tell them apart: `FAILURE`, `TIMED_OUT`, `INTERRUPTED` and
    `LOCK_LOST` are worth the next scheduled run; `USAGE_ERROR`, `CONFIG_ERROR`
    and `STATE_ERROR` need a person; `ALREADY_RUNNING` means the previous run
    has not finished yet (if it repeats, that run is stuck); `OUTPUT_ERROR`
    means a command could not write what it was asked to show.
    """

    SUCCESS = 0
    """The run finished, every message was confirmed and the state was saved."""
    FAILURE = 1
    """The run failed (source or broker); the state was not advanced."""
    USAGE_ERROR = 2
    """The command line itself was wrong (unknown option, missing argument, no such class)."""
    CONFIG_ERROR = 3
    """A config file, option or value is wrong; nothing was fetched."""
    STATE_ERROR = 4
    """The state is damaged, unsafe, or cannot be saved; or a file or directory the run
    writes (state dir, lock file, outbox) is unsafe: it was left untouched."""
    ALREADY_RUNNING = 5
    """Another instance of the same collector holds the lock; this one did nothing."""
    LOCK_LOST = 6
    """This run lost its lock while it ran: its save was refused, or (its commit's answer
    lost) may or may not have landed; the next run carries on from what the state holds."""
    OUTPUT_ERROR = 74
    """A command could not write what it was asked to show (`state show` with its standard
    output closed or full); nothing was changed. (`EX_IOERR` of sysexits.h.)"""
    TIMED_OUT = 124
    """The run's deadline passed; nothing more was fetched or saved (the status of timeout(1))."""
    INTERRUPTED = 130
    """Stopped by Ctrl+C (SIGINT), SIGTERM or SIGHUP; nothing more was fetched or saved."""


class CollectorError(Exception):
    """Base class of the errors this package reports as one clear line."""

    exit_status: ExitStatus = ExitStatus.FAILURE


class UsageError(CollectorError):
    """The command line names something that does not exist or is not a collector."""

    exit_status = ExitStatus.USAGE_ERROR


class CollectorImportError(CollectorError):
    """The collector's module could not be imported (an error in its code)."""

    exit_status = ExitStatus.FAILURE


class ConfigError(CollectorError):
    """A config file, section, option or value is missing or wrong."""

    exit_status = ExitStatus.CONFIG_ERROR


class ConfigSpecError(ConfigError):
    """A collector's `config_spec` text cannot be parsed (a bug in the collector)."""


class StateFileError(CollectorError):
    """The state cannot be loaded or saved safely; it was not modified."""

    exit_status = ExitStatus.STATE_ERROR


class StateSaveError(StateFileError):
    """Saving the state failed after everything was published; the old state is kept.

    The run's summary line adds the consequence: the next run publishes the
    same messages again.
    """


class AlreadyRunningError(CollectorError):
    """Another process holds the collector's single-instance lock."""

    exit_status = ExitStatus.ALREADY_RUNNING


class LockLostError(CollectorError):
    """This run no longer holds its lock: another run took over, so its save was refused."""

    exit_status = ExitStatus.LOCK_LOST


class SaveOutcomeUnknownError(LockLostError):
    """The save's commit was sent, but its answer never came: it may or may not have landed.

    The connection broke after the commit left (a partition, a server that went
    away). This run cannot tell whether the state now holds its save; the next
    run reads it and carries on from whichever state it holds.
    """


class PublishError(CollectorError):
    """The sink did not confirm every message (broker down, nack, unroutable...)."""

    exit_status = ExitStatus.FAILURE


class DownloadError(CollectorError):
    """A download failed: an HTTP error status, too slow (the whole download), or too big.

    Attributes:
        url: what was being downloaded.
        status: the HTTP status of an error response, or `None` (network, limits).
        headers: the headers of an error response (`Retry-After`...), or `None`.
        retryable: whether another attempt may succeed: a network failure, a
            timeout, an answer cut short, `408`, `429`, `500`, `502`, `503`,
            `504`; not an answer too large, `401`, `403`, `404` and the like.
        timed_out: whether the download ran out of its time (`fetch()`'s `timeout`).
    """

    exit_status = ExitStatus.FAILURE

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        headers: Mapping[str, str] | Message | None = None,
        retryable: bool = False,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.headers = headers
        self.retryable = retryable
        self.timed_out = timed_out


class OutputError(CollectorError):
    """A command could not write its output (its standard output is closed or full)."""

    exit_status = ExitStatus.OUTPUT_ERROR


class CollectorStopped(CollectorError):
    """`stop()` was called (Ctrl+C, SIGTERM): the run ended early, state not advanced."""

    exit_status = ExitStatus.INTERRUPTED


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the run; nothing more is fetched or saved.

    It derives from `KeyboardInterrupt`, not `Exception`, so that an
    `except Exception:` in a collector's own code does not swallow it.
    """

    exit_status: ExitStatus = ExitStatus.INTERRUPTED
    signum: int | None = None
    """The signal that raised it, when one did."""


class DeadlineExceeded(Interrupted):
    """The run's deadline passed before it finished; it stops like an interrupted run.

    Attributes:
        seconds: the deadline, in seconds from the start of the run.
    """

    exit_status = ExitStatus.TIMED_OUT

    save_failure: str | None = None
    """How the save under way when the deadline passed failed, if it did (said in `str()`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"deadline passed ({seconds:g} s)")
        self.seconds = seconds

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.save_failure is None else f"{text} during a save: {self.save_failure}"


_MAX_EXCEPTION_CHARS = 300


def describe_exception(exc: BaseException) -> str:
    r"""An unexpected exception in one line: its type and the start of its message's first line.

    A message longer than 300 characters is shortened, and says so.

    ```python
    from stateful_collectors.errors import describe_exception

    print(describe_exception(ValueError("bad value\nmore detail")))
    #> ValueError: bad value
    print(describe_exception(KeyError()))
    #> KeyError
    print(describe_exception(RuntimeError("x" * 3000))[-40:])
    #> xxxxx... [2730 more characters left out]
    ```
    """
    from stateful_collectors.runtime.output import shorten  # it imports nothing of the package

    try:
        message = str(exc)
    except Exception:  # an exception whose __str__ fails: its type says enough
        message = ""
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = shorten(text, _MAX_EXCEPTION_CHARS, keep_end=False)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
