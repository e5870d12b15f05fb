"""What the `stateful-collectors state` commands do: show, reset (with a backup), set,
list the backups, restore one, copy a state from one store to another.

Each function works on a stateful collector whose lock the caller holds, and
returns the lines to print; mistakes raise `UsageError` with "nothing was
changed".
"""

from __future__ import annotations

from collections.abc import Callable

from stateful_collectors.errors import UsageError
from stateful_collectors.state.mixin import StatefulCollectorMixin
from stateful_collectors.state.view import format_state, parse_state

__all__ = [
    "copy_state",
    "list_backups",
    "reset_state",
    "restore_backup",
    "set_state",
    "show_state",
]


def show_state(collector: StatefulCollectorMixin) -> tuple[str, str | None]:
    """The state as `format_state` shows it, and a note when no state was saved yet."""
    store = collector.state_store
    if store.exists():
        return format_state(collector.load_state()), None
    note = f"# no {store.kind} yet at {store.location}; the first run starts from:"
    return format_state(collector.make_default_state()), note


def reset_state(collector: StatefulCollectorMixin, confirm: Callable[[], bool]) -> str | None:
    """Remove the state, keeping a backup; `None` when `confirm()` said no."""
    store = collector.state_store
    if not store.exists():
        return f"no {store.kind} at {store.location}; nothing to reset"
    if not confirm():
        return None
    backup = store.backup()
    store.remove()
    undo = f" (to undo: {store.restore_command(backup)})" if backup else ""
    return f"state reset; the old state is kept in {backup}{undo}"


def set_state(collector: StatefulCollectorMixin, text: str, where: str) -> str:
    """Replace the state with the one `text` describes (as `state show` prints it)."""
    try:
        state = parse_state(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not a state: {exc}; nothing was changed") from None
    store = collector.state_store
    backup = store.backup()
    try:
        collector.save_state(state)
    except TypeError as exc:  # e.g. a set for a collector whose state_codec is 'json'
        if backup is not None:
            store.discard_backup(backup)
        raise UsageError(f"{where} cannot be saved: {exc}; nothing was changed") from None
    kept = (
        f"; the old state is kept in {backup} (to undo: {store.restore_command(backup)})"
        if backup
        else ""
    )
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
    kept = destination.backup()
    destination.write(data)
    replaced = (
        f"; the state it replaced is kept in {kept} (to undo: {destination.restore_command(kept)})"
        if kept
        else ""
    )
    return f"state copied from {origin.location} to {destination.location}{replaced}"
