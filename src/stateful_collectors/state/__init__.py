"""A collector's state: the mixin, the stores where it lives, and how it is encoded.

* `mixin`: `StatefulCollectorMixin`, n6's `load_state` / `save_state` /
  `make_default_state`, with `checkpoint()`, versions and migrations;
* `store`: the `StateStore` contract between the mixin and a store, and what
  a store is told of its collector (`StoreRequest`);
* `stores`: the stores, and `store_from_config`, which picks the one the
  config selects: a file in the state dir (`stores.files.FileStore`, and
  `StateFile` for using one state file directly) by default, or a row of a
  PostgreSQL table (`stores.postgresql.PostgresStore`);
* `lock`: the single-instance `flock`;
* `codecs`: pickle and JSON.

The `stateful-collectors state` commands, which show, set, reset and copy a
state through its store, are `stateful_collectors.command.state_commands`.
"""

from stateful_collectors.state.codecs import JsonCodec, PickleCodec, StateCodec
from stateful_collectors.state.mixin import StatefulCollectorMixin
from stateful_collectors.state.stores.files import StateFile

__all__ = [
    "JsonCodec",
    "PickleCodec",
    "StateCodec",
    "StateFile",
    "StatefulCollectorMixin",
]
