"""`Value`: the base of the package's small immutable records (specs, exchanges, messages).

They behave like frozen dataclasses (compared, hashed and printed by their
fields; read-only once built) but are written by hand: `dataclasses` imports
`inspect` and much more, which every cron-started run would pay for. The
modules a run may import are checked by `tests/unit/test_run_imports.py`, and
what a run costs by the whole-run benchmark (`benchmarks/whole_run.py`).
"""

from __future__ import annotations

__all__ = ["Value"]


class Value:
    """Fields are the subclass's `__slots__`, in order; its `__init__` sets them with `_set`."""

    __slots__: tuple[str, ...] = ()

    def _set(self, *values: object) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:  # pickle and copy rebuild by __init__
        return type(self), self._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
