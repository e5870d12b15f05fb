"""What may stop a run (SIGINT, SIGTERM, SIGHUP, its deadline), and when nothing may.

One run is one process, so this module keeps its state in the process:

* `install()` makes SIGINT, SIGTERM and SIGHUP raise `Interrupted`, and
  SIGALRM (the run's deadline) raise `DeadlineExceeded`, in the main thread.
  The runner and the `state` commands call it before anything else, before
  the collector's module is imported.
* `deferred()` is a critical section: a signal that arrives inside it is
  raised when it ends. The save of a state runs inside one, so a signal never
  cuts a save in two, and a run whose state was saved always says so.
* `start_deadline(seconds)` arms the run's deadline (`setitimer`);
  `remaining()` says how much of it is left, so that a download can stop at
  it too (`stateful_collectors.http.fetch`).
* `hold()` says that the run's outcome is decided: from then on a signal is
  noted and changes nothing, so the summary line and the exit status agree;
  `late()` is the first such signal, which the summary line mentions.
* `received()` is the first interruption of the run, even one that a
  collector's code caught and ignored: the run still reports it.
* `finish()` ignores the signals for the little that is left of the process,
  once the command's status is decided.
* `restore()` puts back the handlers `install()` found (a run started from
  Python, in a test, leaves the process as it was).

Python runs a signal handler between two steps of whatever runs in the main
thread, also inside a `__del__` method or a weak reference's callback, where
an exception cannot get out: it would be printed as "Exception ignored" and
dropped. `install()` therefore also installs a `sys.unraisablehook` that
catches such an interruption and sends the signal again, every 10 ms, until
it is raised where it can stop the run (or the run's outcome is decided).

Outside the main thread, or before `install()`, nothing here changes how a
signal is handled: `deferred()` is then an empty block.

Example:
    ```python
    import os
    import signal

    from stateful_collectors.errors import Interrupted
    from stateful_collectors.runtime import interrupts

    interrupts.install()
    try:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            print("the critical section finished")
            #> the critical section finished
    except Interrupted as interruption:
        print("then:", interruption)
        #> then: SIGTERM
    finally:
        interrupts.restore()
    ```
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from stateful_collectors.errors import DeadlineExceeded, Interrupted

__all__ = [
    "SIGNALS",
    "cancel_deadline",
    "deferred",
    "hold",
    "install",
    "finish",
    "installed",
    "late",
    "received",
    "remaining",
    "restore",
    "start_deadline",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals that stop a run (exit status 130)."""

_Handler = Callable[[int, FrameType | None], Any] | int | None


class _State:
    """The process's interruption state (one run per process)."""

    def __init__(self) -> None:
        self.previous: dict[int, _Handler] = {}
        self.depth = 0  # nesting of deferred() blocks
        self.pending: Interrupted | None = None  # arrived inside deferred(), raised at its end
        self.received: Interrupted | None = None  # the first interruption of the run
        self.late: Interrupted | None = None  # the first one after the outcome was decided
        self.held = False  # the outcome is decided: note signals, raise nothing
        self.deadline: float | None = None  # time.monotonic() value
        self.deadline_seconds = 0.0
        self.previous_hook: Callable[[Any], object] = sys.__unraisablehook__
        self.in_hook = False  # inside _unraisable(): an interruption raised there is lost
        self.raised = 0  # how many interruptions _handle() raised (the resender watches it)


_state = _State()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handle(signum: int, _frame: FrameType | None) -> None:
    if signum == signal.SIGALRM:
        interruption: Interrupted = DeadlineExceeded(_state.deadline_seconds)
    else:
        interruption = Interrupted(signal.Signals(signum).name)
    interruption.signum = signum
    if _state.held:
        if _state.late is None:
            _state.late = interruption
        return
    if _state.received is None:
        _state.received = interruption
    if _state.depth:
        if _state.pending is None:
            _state.pending = interruption
        return
    if _state.in_hook:
        return  # it would be dropped with the hook's own exception: _resend() sends it again
    _state.raised += 1
    raise interruption


_RESEND_EVERY = 0.01  # seconds between two sends of an interruption that was dropped
_RESEND_FOR = 5.0  # seconds after which the resender gives up (the run is ending anyway)


def _unraisable(unraisable: Any) -> None:
    """Send again an interruption raised where it could not get out (a `__del__`...)."""
    interruption = unraisable.exc_value
    if isinstance(interruption, Interrupted) and interruption.signum is not None:
        # Not now: the handler would run inside this hook, and be dropped again. From
        # another thread, again and again, until the main thread has raised it somewhere
        # else. (Starting that thread waits for it, and a signal may land meanwhile: the
        # handler then only notes it.)
        _state.in_hook = True
        try:
            resend = threading.Thread(
                target=_resend, args=(interruption.signum, _state.raised), daemon=True
            )
            resend.start()
        finally:
            _state.in_hook = False
        return
    _state.previous_hook(unraisable)


def _resend(signum: int, raised_before: int) -> None:
    """Send `signum` to this process until `_handle()` raised an interruption, or the run ended."""
    deadline = time.monotonic() + _RESEND_FOR
    while time.monotonic() < deadline:
        time.sleep(_RESEND_EVERY)
        if _state.raised != raised_before or _state.held or not _state.previous:
            return
        os.kill(os.getpid(), signum)


def install() -> None:
    """Handle SIGINT, SIGTERM, SIGHUP and SIGALRM from now on (main thread only).

    Starts a fresh run: forgets any interruption an earlier run received.
    """
    if not _in_main_thread():
        return
    _state.depth, _state.pending, _state.received, _state.held = 0, None, None, False
    _state.late = None
    if sys.unraisablehook is not _unraisable:  # also when something replaced it since
        _state.previous_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable
    for signum in (*SIGNALS, signal.SIGALRM):
        previous = signal.signal(signum, _handle)
        _state.previous.setdefault(signum, previous)


def installed() -> bool:
    """Whether `install()` is in effect (and not undone by `restore()`)."""
    return bool(_state.previous)


def restore() -> None:
    """Cancel the deadline and put back the handlers that `install()` replaced."""
    cancel_deadline()
    if not _in_main_thread():
        return
    previous, _state.previous = _state.previous, {}
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if sys.unraisablehook is _unraisable:
        sys.unraisablehook = _state.previous_hook
    _state.depth, _state.pending, _state.held = 0, None, False


@contextmanager
def deferred() -> Iterator[None]:
    """A block that no signal interrupts: one that arrives meanwhile is raised at its end.

    If the block itself raises, that exception goes on (the interruption is
    still noted by `received()`).
    """
    if not _state.previous or not _in_main_thread():
        yield
        return
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if _state.depth == 0 and _state.pending is not None and not _state.held:
        pending, _state.pending = _state.pending, None
        raise pending


def hold() -> None:
    """The outcome is decided: from now on signals change nothing, and the deadline is off.

    A signal that arrives from then on is only noted: `late()` returns it, so
    that the summary line can say it came and changed nothing.
    """
    _state.held = True
    cancel_deadline()


def finish() -> None:
    """The command's status is decided and the process is about to end: ignore the signals.

    As `hold()`, and the signals are then ignored by the process (until
    `restore()` or the next `install()`): the interpreter puts back the default
    handlers while it shuts down, and one arriving then would end the process
    with a status other than the one the command printed.
    """
    hold()
    if _state.previous and _in_main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def received() -> Interrupted | None:
    """The first interruption this run received (raised, deferred or ignored), if any.

    A signal that came after `hold()` is not one: see `late()`.
    """
    return _state.received


def late() -> Interrupted | None:
    """The first signal that came after `hold()`, when it could change nothing, if any."""
    return _state.late


def start_deadline(seconds: float) -> None:
    """Arm the run's deadline: `seconds` from now, the run raises `DeadlineExceeded`.

    The timer (`setitimer(ITIMER_REAL)`) needs `install()` and the main thread;
    elsewhere only `remaining()` knows the deadline.
    """
    _state.deadline = time.monotonic() + seconds
    _state.deadline_seconds = seconds
    if _state.previous and _in_main_thread():
        signal.setitimer(signal.ITIMER_REAL, seconds)


def cancel_deadline() -> None:
    """Disarm the run's deadline (nothing happens if none is armed)."""
    if _state.deadline is not None and _in_main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
    _state.deadline = None


def remaining() -> float | None:
    """Seconds left before the run's deadline, `None` without one (never below 0)."""
    if _state.deadline is None:
        return None
    return max(0.0, _state.deadline - time.monotonic())


def deadline_seconds() -> float | None:
    """The deadline armed by `start_deadline`, in seconds (`None` without one)."""
    return _state.deadline_seconds if _state.deadline is not None else None
