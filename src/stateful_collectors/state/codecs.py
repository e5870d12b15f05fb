r"""How a state object becomes bytes in its store, and back: pickle or JSON.

```python
from stateful_collectors.state.codecs import codec_named

codec = codec_named("json")
print(codec.dumps({"last_utc": "2026-11-27T20:00:00Z"}))
#> b'{\n  "last_utc": "2026-11-27T20:00:00Z"\n}\n'
print(codec.loads(b'{"last_utc": null}'))
#> {'last_utc': None}
```
"""

from __future__ import annotations

import json
import pickle
from typing import Any, BinaryIO, Protocol

__all__ = ["JsonCodec", "PickleCodec", "StateCodec"]


class StateCodec(Protocol):
    """How a state object becomes bytes, and back."""

    name: str
    """The name `state_codec` gives it: `"pickle"`, `"json"`."""
    suffix: str
    """The state file's extension: `".pickle"`, `".json"`."""

    def dumps(self, state: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class PickleCodec:
    """Pickle (protocol 5): almost any Python object round-trips exactly.

    Unpickling runs code named in the data, so a store is checked before it is
    read (see `stateful_collectors.fs.read_private_file`).
    """

    name = "pickle"
    suffix = ".pickle"

    def dumps(self, state: Any) -> bytes:
        return pickle.dumps(state, protocol=5)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)

    def load(self, file: BinaryIO) -> Any:
        """Unpickle from an open file: large `bytes` in the state are read straight into place."""
        return pickle.load(file)


class JsonCodec:
    """JSON: human-readable, for states made of dicts, lists, strings, numbers, bools, None.

    Tuples come back as lists and dict keys must be strings.
    """

    name = "json"
    suffix = ".json"

    def dumps(self, state: Any) -> bytes:
        try:
            text = json.dumps(state, ensure_ascii=False, sort_keys=True, indent=2)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"state is not plain JSON data ({exc}); use state_codec = 'pickle' "
                "or convert it before save_state()"
            ) from None
        return (text + "\n").encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))


CODECS: dict[str, StateCodec] = {"pickle": PickleCodec(), "json": JsonCodec()}
"""The codecs `state_codec` may name."""


def codec_named(codec: str | StateCodec) -> StateCodec:
    """The codec a `state_codec` attribute names (or the codec object it holds)."""
    if isinstance(codec, str):
        try:
            return CODECS[codec]
        except KeyError:
            raise ValueError(
                f"unknown state_codec {codec!r}; use one of: {', '.join(CODECS)}"
            ) from None
    return codec
