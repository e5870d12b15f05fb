"""What the `stateful-collectors state` commands do: show, reset (with a backup), set.

Each function works on a stateful collector whose lock the caller holds, and
returns the lines to print; mistakes raise `UsageError` with "nothing was
changed".
"""

from __future__ import annotations

from collections.abc import Callable

from stateful_collectors.errors import UsageError
from stateful_collectors.state.mixin import StatefulCollectorMixin
from stateful_collectors.state.view import format_state, parse_state

__all__ = ["reset_state", "set_state", "show_state"]


def show_state(collector: StatefulCollectorMixin) -> tuple[str, str | None]:
    """The state as `format_state` shows it, and a note when no state was saved yet."""
    store = collector.state_store
    if store.exists():
        return format_state(collector.load_state()), None
    note = f"# no state file yet at {store.location}; the first run starts from:"
    return format_state(collector.make_default_state()), note


def reset_state(collector: StatefulCollectorMixin, confirm: Callable[[], bool]) -> str | None:
    """Remove the state, keeping a backup; `None` when `confirm()` said no."""
    store = collector.state_store
    if not store.exists():
        return f"no state file at {store.location}; nothing to reset"
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
