"""The state stores, and `store_from_config`, which picks the one the config selects.

A store keeps a collector's state bytes and the lock that lets one run at a
time use them (the contract: `stateful_collectors.state.store.StateStore`).

* `files`: the default, a file in the state dir (`FileStore`), and
  `StateFile` for using one state file directly;
* `postgresql`: a row of a PostgreSQL table that several hosts share, with an
  advisory lock and fenced saves (`PostgresStore`), selected by a
  `[postgresql]` section or `$STATEFUL_COLLECTORS_POSTGRESQL_DSN`; imported
  only then, since it needs psycopg.

A new store is a module here whose class has `from_config(source, request,
env)` (`stateful_collectors.state.store.StoreClass`), and one line in `STORES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stateful_collectors.config import BackEnd, ConfigSource, choose_back_end
from stateful_collectors.state.store import StateStore, StoreClass, StoreRequest

__all__ = [
    "SECTIONS",
    "STORES",
    "overriding_variable",
    "store_from_config",
]

STORES = (
    # the section and the variable that select it, its class (imported only when selected)
    BackEnd(
        "postgresql",
        "STATEFUL_COLLECTORS_POSTGRESQL_DSN",
        "stateful_collectors.state.stores.postgresql:PostgresStore",
    ),
    BackEnd(None, None, "stateful_collectors.state.stores.files:FileStore"),  # the default
)
"""The stores a config can select, the first that it selects wins; the last is the default."""

SECTIONS = tuple(store.section for store in STORES if store.section is not None)
"""The config sections the stores read: `[postgresql]`."""


def store_from_config(
    source: ConfigSource, request: StoreRequest, env: Mapping[str, str] | None = None
) -> StateStore:
    """The store the config selects for `request`'s collector (the state file by default)."""
    env = os.environ if env is None else env
    store_class: StoreClass = choose_back_end(STORES, source, env).load()
    return store_class.from_config(source, request, env)


def overriding_variable(env: Mapping[str, str] | None = None) -> str | None:
    """The variable, if one is set, that selects a store whatever a config file says."""
    env = os.environ if env is None else env
    return next((s.variable for s in STORES if s.variable and env.get(s.variable)), None)
