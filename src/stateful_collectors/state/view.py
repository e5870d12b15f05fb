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

Example:
    ```python
    import datetime as dt

    from stateful_collectors.state.view import format_state, parse_state

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
import json
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["format_state", "from_view", "parse_state", "to_view"]

_WIDTH = 88


def to_view(value: Any) -> Any:
    """The JSON data that shows `value` (see the module docs for the `$` tags)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        keys_are_text = all(isinstance(key, str) for key in value)
        looks_tagged = len(value) == 1 and str(next(iter(value))).startswith("$")
        if keys_are_text and not looks_tagged:
            return {key: to_view(value[key]) for key in sorted(value)}
        pairs = _stable_sorted(value.items(), key=lambda pair: pair[0])
        return {"$dict": [[to_view(key), to_view(item)] for key, item in pairs]}
    if isinstance(value, list):
        return [to_view(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [to_view(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: [to_view(item) for item in _stable_sorted(value, key=lambda item: item)]}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, bytes):
        try:
            return {"$bytes": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"$bytes_base64": base64.b64encode(value).decode("ascii")}
    return {"$repr": repr(value)}


def _stable_sorted(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    items = list(items)
    try:
        return sorted(items, key=key)
    except TypeError:  # mixed types: order by how they are shown instead
        return sorted(items, key=lambda item: _compact(to_view(key(item))))


def _compact(view: Any) -> str:
    return json.dumps(view, ensure_ascii=False, separators=(", ", ": "))


def format_state(state: Any, width: int = _WIDTH) -> str:
    """`state` as indented JSON text; what fits in `width` columns stays on one line."""
    return _format(to_view(state), indent=0, used=0, width=width)


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
    return from_view(data)


def from_view(data: Any) -> Any:
    """The inverse of `to_view` for JSON data (`$repr` excepted)."""
    if isinstance(data, list):
        return [from_view(item) for item in data]
    if isinstance(data, dict):
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
    except (TypeError, ValueError, binascii.Error) as exc:
        raise ValueError(f"{tag}: {exc}") from None


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
}
