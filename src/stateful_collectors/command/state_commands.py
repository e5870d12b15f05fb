"""What the `stateful-collectors state` commands do: show, reset (with a backup), set,
list the backups, restore one, copy a state from one store to another.

Each function works on a stateful collector and returns the lines to print.
`show_state` takes the lock only when a state exists, and creates nothing on
disk; `set_state` takes it once its input proved to be a state; `reset_state`
expects the caller to hold it. Both change the state in one step that no
signal interrupts. Whatever they cannot
take raises a `CollectorError` whose line ends with "nothing was changed":
`UsageError` (exit status 2) for bad input, `StateFileError` (4) for a state
that cannot be read or written.
"""

from __future__ import annotations

from collections.abc import Callable

from stateful_collectors.command.state_view import Budget, format_state, parse_state
from stateful_collectors.errors import (
    CollectorError,
    StateFileError,
    UsageError,
    describe_exception,
)
from stateful_collectors.runtime import interrupts
from stateful_collectors.state.mixin import StatefulCollectorMixin

__all__ = [
    "copy_state",
    "list_backups",
    "reset_state",
    "restore_backup",
    "set_state",
    "show_state",
]

_UNCHANGED = "nothing was changed"


def _unchanged(exc: BaseException) -> CollectorError:
    """The error to report for `exc`, saying that nothing was changed."""
    if isinstance(exc, CollectorError):
        text = str(exc)
        error = CollectorError(text if text.endswith(_UNCHANGED) else f"{text}; {_UNCHANGED}")
        error.exit_status = exc.exit_status
        return error
    return StateFileError(
        f"the state could not be changed ({describe_exception(exc)}); {_UNCHANGED}"
    )


def show_state(collector: StatefulCollectorMixin) -> tuple[str, str | None]:
    """The state as `format_state` shows it, and a note for stderr (or `None`).

    Before any state was saved it shows the default state and touches nothing
    on disk (no state dir, no lock file). A state too big to print whole is
    summarised, and the note says so.
    """
    store = collector.state_store
    if not store.exists():
        first = f"# no {store.kind} yet at {store.location}; the first run starts from:"
        return format_state(collector.make_default_state()), first
    try:
        state = collector.load_state()
    except StateFileError as exc:  # (a running collector's lock says "did nothing" already)
        raise _unchanged(exc) from None
    budget = Budget()
    text = format_state(state, budget=budget)
    note: str | None = None
    if budget.truncated:
        note = (
            f"# the state in {store.location} is too big to print whole; the parts marked "
            '"$truncated" are summarised, so state set cannot take this text back'
        )
    return text, note


def reset_state(collector: StatefulCollectorMixin, confirm: Callable[[], bool]) -> str | None:
    """Remove the state, keeping a backup; `None` when `confirm()` said no."""
    store = collector.state_store
    if not store.exists():
        return f"no {store.kind} at {store.location}; nothing to reset"
    if not confirm():
        return None
    with interrupts.deferred():  # the backup and the removal, as one step
        try:
            backup = store.backup()
        except (CollectorError, OSError) as exc:
            raise _unchanged(exc) from None
        try:
            store.remove()
        except (CollectorError, OSError) as exc:
            if backup is not None:
                store.discard_backup(backup)
            raise _unchanged(exc) from None
        undo = f" (to undo: {store.restore_command(backup)})" if backup else ""
        interrupts.hold()  # done: a signal that came meanwhile changes nothing now
        return f"state reset; the old state is kept in {backup}{undo}"


def set_state(collector: StatefulCollectorMixin, text: str, where: str) -> str:
    """Replace the state with the one `text` describes (as `state show` prints it).

    The text is read first; only a state it describes takes the lock.
    """
    try:
        state = parse_state(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not a state: {exc}; {_UNCHANGED}") from None
    collector.acquire_state_lock()
    store = collector.state_store
    with interrupts.deferred():  # the backup and the save, as one step
        try:
            backup = store.backup()
        except (CollectorError, OSError) as exc:
            raise _unchanged(exc) from None
        try:
            collector.save_state(state)
        except Exception as exc:
            if backup is not None:
                store.discard_backup(backup)
            if isinstance(exc, (TypeError, ValueError, RecursionError)):
                # e.g. a set for a collector whose state_codec is 'json'
                problem = str(exc) if isinstance(exc, TypeError) else describe_exception(exc)
                raise UsageError(f"{where} cannot be saved: {problem}; {_UNCHANGED}") from None
            raise _unchanged(exc) from None
        kept = (
            f"; the old state is kept in {backup} (to undo: {store.restore_command(backup)})"
            if backup
            else ""
        )
        interrupts.hold()  # done: a signal that came meanwhile changes nothing now
        return f"state saved to {store.location}{kept}"


def list_backups(collector: StatefulCollectorMixin) -> tuple[list[str], str | None]:
    """One line per backup, oldest first (its name first), and a note when there is none."""
    store = collector.state_store
    backups = store.list_backups()
    if not backups:
        return [], f"# no backups of {store.location}"
    lines = []
    for backup in backups:
        detail = f"  {backup.detail}" if backup.detail else ""
        lines.append(f"{backup.name}  kept {backup.taken}  {backup.size} bytes{detail}")
    return lines, None


def restore_backup(collector: StatefulCollectorMixin, backup: str) -> str:
    """Put `backup` back in place of the state, keeping a backup of the state it replaces."""
    store = collector.state_store
    data = store.read_backup(backup)
    collector.check_state_bytes(data, backup)
    with interrupts.deferred():  # the backup and the write, as one step
        kept = store.backup()
        store.write(data)
    if kept is None:
        return f"state restored from {backup}"
    undo = store.restore_command(kept)
    return (
        f"state restored from {backup}; the state it replaced is kept in {kept} (to undo: {undo})"
    )


def copy_state(source: StatefulCollectorMixin, target: StatefulCollectorMixin) -> str:
    """Copy the saved state of `source` (its bytes, as they are) into the store of `target`.

    Both collectors' locks must be held. The target's current state, if any,
    is kept as a backup first.
    """
    origin, destination = source.state_store, target.state_store
    data = origin.read()
    if data is None:
        raise UsageError(f"no {origin.kind} at {origin.location} to copy; nothing was changed")
    source.check_state_bytes(data, origin.description)
    with interrupts.deferred():  # the backup and the write, as one step
        kept = destination.backup()
        destination.write(data)
    replaced = (
        f"; the state it replaced is kept in {kept} (to undo: {destination.restore_command(kept)})"
        if kept
        else ""
    )
    return f"state copied from {origin.location} to {destination.location}{replaced}"
