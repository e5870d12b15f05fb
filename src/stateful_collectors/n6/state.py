"""n6 4.x's `StatefulCollectorMixin` over this library's: n6's state files, Python 2's included.

What it adds to `stateful_collectors.StatefulCollectorMixin`:

* n6's default `state_dir`, `~/.n6state`, so a collector moved from n6 reads
  the state file n6 left, in place (the file name is n6's as well:
  `<module>.<class qualname>.pickle`);
* the `state_pickle_protocol` argument (the pickle protocol of saves; the
  highest by default), and a `pickle_protocol` class attribute refused;
* a state file saved by Python 2 (pickle protocol 2) loaded through the
  collector's `get_py2_pickle_load_kwargs()` (the `encoding` and `errors` of
  `pickle.load`) and then `adjust_state_from_py2_pickle(state)`; a file whose
  first two bytes are no pickle of protocol 2 or newer refused, as n6 does;
* loading a missing state outside a run creates nothing (no directory, no
  lock file), as in n6; a run takes the lock before it fetches, as always;
* a collector whose module is `__main__` refused, as in n6 (its state file
  name would change with the way it is started).

A state file this library cannot take stops the run with one line naming the
file and the way out (exit status 4), and is left as it was.
"""

from __future__ import annotations

import io
import logging
import pickle
from typing import Any, BinaryIO, ClassVar

from stateful_collectors.config import combined_config_spec
from stateful_collectors.n6.collectors import refuse_unsupported_attributes
from stateful_collectors.state import mixin as core
from stateful_collectors.state.codecs import PickleCodec

__all__ = ["N6PickleCodec", "StatefulCollectorMixin"]

log = logging.getLogger("stateful_collectors.state")


class N6PickleCodec(PickleCodec):
    """Pickle as n6 4.x saves and loads it, for one collector (its hooks and protocol)."""

    def __init__(self, collector: StatefulCollectorMixin) -> None:
        self._collector = collector

    def dumps(self, state: Any) -> bytes:
        return pickle.dumps(state, protocol=self._collector.state_pickle_protocol)

    def loads(self, data: bytes) -> Any:
        return self.load(io.BytesIO(data))

    def load(self, file: BinaryIO) -> Any:
        head = file.read(2)
        file.seek(0)
        if len(head) == 2:
            if head[0] != 0x80 or head[1] < 2:
                raise ValueError(
                    "its first two bytes are not those of a pickle of protocol 2 or newer, "
                    "which is all n6 and this library write"
                )
            if head[1] == 2:
                return self._load_python2(file)
        return pickle.load(file)

    def _load_python2(self, file: BinaryIO) -> Any:
        collector = self._collector
        kwargs = collector.get_py2_pickle_load_kwargs()
        log.warning("loading a state pickled by Python 2, with pickle.load(**%r)", kwargs)
        try:
            state = pickle.load(file, **kwargs)
        except Exception as exc:
            raise ValueError(
                f"a state pickled by Python 2 that pickle.load(**{kwargs!r}) cannot load "
                f"({type(exc).__name__}: {exc}); adapt get_py2_pickle_load_kwargs() "
                "and adjust_state_from_py2_pickle() of the collector"
            ) from None
        return collector.adjust_state_from_py2_pickle(state)


class StatefulCollectorMixin(core.StatefulCollectorMixin):
    """n6 4.x's `StatefulCollectorMixin`: see the module's docstring for what it adds."""

    config_spec_pattern: ClassVar[str | None] = combined_config_spec(
        "[{collector_class_name}]\nstate_dir = ~/.n6state :: path\n"
    )
    unsupported_class_attributes: ClassVar[frozenset[str]] = frozenset({"pickle_protocol"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_unsupported_attributes(
            cls,
            StatefulCollectorMixin.unsupported_class_attributes,
            "pass state_pickle_protocol=... to __init__ instead",
        )

    def __init__(
        self, /, *args: Any, state_pickle_protocol: int = pickle.HIGHEST_PROTOCOL, **kwargs: Any
    ) -> None:
        self._state_pickle_protocol = state_pickle_protocol
        super().__init__(*args, **kwargs)
        self._codec = N6PickleCodec(self)

    @property
    def state_pickle_protocol(self) -> int:
        """The pickle protocol `save_state()` writes with."""
        return self._state_pickle_protocol

    def get_state_file_name(self) -> str:
        """`<module>.<class qualname>.pickle`, n6's name; a `__main__` module is refused."""
        cls = type(self)
        if cls.__module__ == "__main__":
            raise ValueError(
                f"'__main__' is not the proper name of the module containing {cls.__qualname__} "
                "(the state file is named after it); run it with 'stateful-collectors run "
                "MODULE:CLASS' or through its <ClassName>_main entry point"
            )
        return f"{cls.__module__}.{cls.__qualname__}.pickle"

    def load_state(self) -> Any:
        """As the base class's; a missing state loaded outside a run creates nothing."""
        store = self.state_store
        if not store.lock_held and not store.exists():
            log.warning("%s not found; starting from the default state", store.description)
            return self.make_default_state()
        return super().load_state()

    # -- n6's hooks for state files saved by Python 2

    def get_py2_pickle_load_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `pickle.load` for a Python 2 state (ASCII, strict)."""
        return {"encoding": "ascii", "errors": "strict"}

    def adjust_state_from_py2_pickle(self, state: Any) -> Any:
        """Turn a state loaded from a Python 2 pickle into the one the collector uses."""
        return state
