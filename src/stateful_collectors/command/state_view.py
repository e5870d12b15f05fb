"""A readable JSON view of a state, and the way back: `state show` and `state set`.

Plain JSON data (dicts with string keys, lists, strings, numbers, booleans,
`None`) is shown as it is, keys sorted, so a JSON state goes through
`stateful-collectors state show` and back through `state set` unchanged.
Other common Python values become an object with one `$` key naming the type:

* a tuple `("a", 1)` -> `{"$tuple": ["a", 1]}`
* a set `{3, 1}` -> `{"$set": [1, 3]}` (sorted; `$frozenset` likewise)
* a datetime -> `{"$datetime": "2026-11-27T20:04:00+00:00"}` (also `$date`, `$time`)
* a timedelta -> `{"$timedelta": 90.0}` (seconds)
* bytes -> `{"$bytes": "text"}` when they are UTF-8, else `{"$bytes_base64": "..."}`
* a dict whose keys are not all strings -> `{"$dict": [[key, value], ...]}`
* anything else -> `{"$repr": "..."}`, shown only: `state set` refuses it.

A state too big to show whole (`state show` must stay quick and small on any
state: a huge one, or one whose shared references would expand into an
exponential tree) is summarised: past about `MAX_CHARS` characters, `MAX_TEXT`
characters of one string or `MAX_DEPTH` levels of nesting, the rest is
replaced by `{"$truncated": "..."}`, which says what was left out. `state set`
refuses such a view.

Example:
    ```python
    import datetime as dt

    from stateful_collectors.command.state_view import format_state, parse_state

    state = {"seen": {3, 1}, "last": dt.datetime(2026, 11, 27, 20, 4, tzinfo=dt.UTC)}
    print(format_state(state))
    #> {"last": {"$datetime": "2026-11-27T20:04:00+00:00"}, "seen": {"$set": [1, 3]}}
    print(parse_state(format_state(state)) == state)
    #> True
    print(format_state({("feed", 1): "x"}))
    #> {"$dict": [[{"$tuple": ["feed", 1]}, "x"]]}
    ```
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["format_state", "parse_state"]

_WIDTH = 88

MAX_CHARS = 500_000
"""About the most characters a view shows (its text may be twice that); the rest is summarised."""
MAX_TEXT = 2_000
"""The most characters a view shows of one string (or bytes); the rest is summarised."""
MAX_DEPTH = 32
"""The deepest nesting a view shows, and that `parse_state` accepts."""


class Budget:
    """What a view may still show, in characters; `truncated` says whether some was left out."""

    def __init__(self, chars: int = MAX_CHARS) -> None:
        self.chars = chars
        self.truncated = False

    @property
    def spent(self) -> bool:
        return self.chars <= 0

    def take(self, chars: int) -> None:
        self.chars -= chars

    def left_out(self, what: str) -> dict[str, str]:
        self.truncated = True
        self.chars -= len(what) + 20
        return {"$truncated": what}


def to_view(value: Any, budget: Budget | None = None, depth: int = 0) -> Any:
    """The JSON data that shows `value` (see the module docs for the `$` tags).

    With a `budget`, the view is summarised once it is spent (see `Budget`):
    a container stops at the item that spends it, with one `$truncated` item
    saying how many were left out, so even a state whose shared references
    would unfold into an exponential tree is shown in bounded time and space.
    """
    budget = Budget(chars=1 << 62) if budget is None else budget
    budget.take(8 + 2 * depth)  # about what the value's line costs: indentation, punctuation
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return budget.left_out(f"a string of {len(value)} characters, starting {value[:80]!r}")
        budget.take(len(value))
        return value
    if depth >= MAX_DEPTH:
        return budget.left_out(f"a {type(value).__name__} nested deeper than {MAX_DEPTH} levels")
    inner = depth + 1
    if isinstance(value, dict):
        looks_tagged = len(value) == 1 and str(next(iter(value))).startswith("$")
        if not looks_tagged and all(isinstance(key, str) for key in value):
            shown_keys = []
            for key in value:
                if budget.spent:
                    break
                budget.take(len(key))
                shown_keys.append(key)
            view = {key: to_view(value[key], budget, inner) for key in sorted(shown_keys)}
            if len(value) > len(shown_keys):
                view.update(budget.left_out(f"{len(value) - len(shown_keys)} more key(s)"))
            return view
        pairs = _stable_sorted(_while_budget(value.items(), budget), _key, budget)
        shown = [[to_view(key, budget, inner), to_view(item, budget, inner)] for key, item in pairs]
        return {"$dict": _with_rest(shown, len(value), budget)}
    if isinstance(value, list):
        return _with_rest(_items_view(value, budget, inner), len(value), budget)
    if isinstance(value, tuple):
        return {"$tuple": _with_rest(_items_view(value, budget, inner), len(value), budget)}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        items = _stable_sorted(_while_budget(value, budget), _same, budget)
        shown = [to_view(item, budget, inner) for item in items]
        return {tag: _with_rest(shown, len(value), budget)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, (bytes, bytearray)):
        if len(value) > MAX_TEXT:
            return budget.left_out(f"{len(value)} bytes, starting {bytes(value[:60])!r}")
        budget.take(len(value) * 4 // 3)
        try:
            return {"$bytes": bytes(value).decode("utf-8")}
        except UnicodeDecodeError:
            return {"$bytes_base64": base64.b64encode(value).decode("ascii")}
    text = repr(value)
    if len(text) > MAX_TEXT:
        return budget.left_out(f"a {type(value).__name__} shown by {len(text)} characters")
    budget.take(len(text))
    return {"$repr": text}


def _key(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _same(item: Any) -> Any:
    return item


def _items_view(items: Iterable[Any], budget: Budget, depth: int) -> list[Any]:
    """The views of `items`, in order, until the budget is spent."""
    shown = []
    for item in items:
        if budget.spent:
            break
        shown.append(to_view(item, budget, depth))
    return shown


def _while_budget(items: Iterable[Any], budget: Budget) -> list[Any]:
    """The first items, as many as the budget could show (each costs at least 8)."""
    return list(itertools.islice(items, max(budget.chars // 8, 0)))


def _with_rest(shown: list[Any], total: int, budget: Budget) -> list[Any]:
    if total > len(shown):
        shown.append(budget.left_out(f"{total - len(shown)} more item(s)"))
    return shown


def _stable_sorted(
    items: Iterable[Any], key: Callable[[Any], Any], budget: Budget | None = None
) -> list[Any]:
    items = list(items)
    try:
        return sorted(items, key=key)
    except TypeError:  # mixed types: order by how they are shown instead
        side = Budget(chars=budget.chars if budget is not None else 1 << 62)
        return sorted(items, key=lambda item: _compact(to_view(key(item), side)))


def _compact(view: Any) -> str:
    return json.dumps(view, ensure_ascii=False, separators=(", ", ": "))


def format_state(state: Any, width: int = _WIDTH, budget: Budget | None = None) -> str:
    """`state` as indented JSON text; what fits in `width` columns stays on one line.

    Summarised past the limits of `budget` (a fresh `Budget()` when not given);
    `budget.truncated` then says so.
    """
    return _format(to_view(state, budget or Budget()), indent=0, used=0, width=width)


def _format(view: Any, indent: int, used: int, width: int) -> str:
    compact = _compact(view)
    if not isinstance(view, (dict, list)) or not view or indent + used + len(compact) <= width:
        return compact
    pad = " " * (indent + 2)
    if isinstance(view, list) and not any(isinstance(item, (dict, list)) for item in view):
        lines = _fill([_compact(item) for item in view], pad, width)
        opening, closing = "[", "]"
    elif isinstance(view, list):
        lines = [pad + _format(item, indent + 2, 0, width) for item in view]
        opening, closing = "[", "]"
    else:
        lines = []
        for key, item in view.items():
            prefix = _compact(key) + ": "
            lines.append(pad + prefix + _format(item, indent + 2, len(prefix), width))
        opening, closing = "{", "}"
    return f"{opening}\n" + ",\n".join(lines) + f"\n{' ' * indent}{closing}"


def _fill(words: list[str], pad: str, width: int) -> list[str]:
    """Scalars of a long list, as many to a line as fit (the last comma is added later)."""
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line}, {word}" if line else word
        if line and len(pad) + len(candidate) + 1 > width:
            lines.append(pad + line)
            candidate = word
        line = candidate
    lines.append(pad + line)
    return lines


def parse_state(text: str) -> Any:
    """The state described by JSON `text` in the format `format_state` prints.

    Raises:
        ValueError: the text is not JSON, or a `$` tag is misused; the message says where.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. a number of more than 4300 digits
        raise ValueError(f"not usable JSON ({str(exc).splitlines()[0][:80]})") from None
    _check_depth(data)
    return from_view(data)


def _check_depth(data: Any) -> None:
    """Refuse JSON data nested more than `MAX_DEPTH` levels (without recursing)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def from_view(data: Any) -> Any:
    """The inverse of `to_view` for JSON data (`$repr` and `$truncated` excepted)."""
    if isinstance(data, list):
        return [from_view(item) for item in data]
    if isinstance(data, dict):
        if "$truncated" in data:
            return _refuse_truncated(data["$truncated"])
        if len(data) == 1:
            ((key, inner),) = data.items()
            if key.startswith("$"):
                return _decode_tag(key, inner)
        return {key: from_view(item) for key, item in data.items()}
    return data


def _decode_tag(tag: str, inner: Any) -> Any:
    decoder = _DECODERS.get(tag)
    if decoder is None:
        known = ", ".join(sorted(_DECODERS))
        raise ValueError(
            f"unknown tag {tag!r} (known: {known}); a dict whose only key starts with '$' "
            f'is written {{"$dict": [["{tag}", ...]]}}'
        )
    try:
        return decoder(inner)
    except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
        raise ValueError(f"{tag}: {str(exc)[:200]}") from None


def _items(inner: Any) -> list[Any]:
    if not isinstance(inner, list):
        raise TypeError(f"needs a JSON array, got {_compact(inner)}")
    return [from_view(item) for item in inner]


def _hashable_items(inner: Any) -> list[Any]:
    items = _items(inner)
    for item in items:
        _require_hashable(item)
    return items


def _require_hashable(value: Any) -> None:
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{_compact(to_view(value))} cannot be a set element or dict key; "
            'write a list as {"$tuple": [...]}'
        ) from None


def _text(inner: Any) -> str:
    if not isinstance(inner, str):
        raise TypeError(f"needs a JSON string, got {_compact(inner)}")
    return inner


def _pairs(inner: Any) -> dict[Any, Any]:
    result = {}
    for pair in _items(inner):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise TypeError(f"needs [key, value] pairs, got {_compact(to_view(pair))}")
        _require_hashable(pair[0])
        result[pair[0]] = pair[1]
    return result


def _refuse_repr(inner: Any) -> Any:
    raise ValueError(
        "stands for an object that JSON cannot describe; replace it with a value "
        "(or reset the state)"
    )


def _refuse_truncated(inner: Any) -> Any:
    raise ValueError(
        "marks what 'state show' left out of a state too big to print; write the whole value"
    )


def _seconds(inner: Any) -> dt.timedelta:
    if isinstance(inner, bool) or not isinstance(inner, (int, float)):
        raise TypeError(f"needs a number of seconds, got {_compact(inner)}")
    return dt.timedelta(seconds=inner)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$tuple": lambda inner: tuple(_items(inner)),
    "$set": lambda inner: set(_hashable_items(inner)),
    "$frozenset": lambda inner: frozenset(_hashable_items(inner)),
    "$datetime": lambda inner: dt.datetime.fromisoformat(_text(inner)),
    "$date": lambda inner: dt.date.fromisoformat(_text(inner)),
    "$time": lambda inner: dt.time.fromisoformat(_text(inner)),
    "$timedelta": _seconds,
    "$bytes": lambda inner: _text(inner).encode("utf-8"),
    "$bytes_base64": lambda inner: base64.b64decode(_text(inner), validate=True),
    "$dict": _pairs,
    "$repr": _refuse_repr,
    "$truncated": _refuse_truncated,
}
