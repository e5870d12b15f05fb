"""A collector's state: the mixin, where the state lives (stores), and how it is encoded.

* `mixin`: `StatefulCollectorMixin`, n6's `load_state` / `save_state` /
  `make_default_state`, with `checkpoint()`, versions and migrations;
* `store`: the `StateStore` contract between the mixin and a store;
* `files`: the default store, a file in the state dir (`FileStore`), and
  `StateFile` for using one state file directly;
* `postgresql`: the shared store, a row of a PostgreSQL table with an advisory
  lock and fenced saves (`PostgresStore`), chosen by a `[postgresql]` section;
  imported only then, since it needs psycopg;
* `lock`: the single-instance `flock`;
* `codecs`: pickle and JSON;
* `view`: the text form of `stateful-collectors state show` and `state set`;
* `commands`: what the `state` commands do (show, reset with a backup, set,
  backups, restore, copy).
"""

from stateful_collectors.state.codecs import CODECS, JsonCodec, PickleCodec, StateCodec
from stateful_collectors.state.files import FileStore, StateFile
from stateful_collectors.state.lock import SingleInstanceLock
from stateful_collectors.state.mixin import StatefulCollectorMixin
from stateful_collectors.state.store import StateStore

__all__ = [
    "CODECS",
    "FileStore",
    "JsonCodec",
    "PickleCodec",
    "SingleInstanceLock",
    "StateCodec",
    "StateFile",
    "StateStore",
    "StatefulCollectorMixin",
]
