r"""The complete example with its state in PostgreSQL, so that several hosts can run it.

The code is the complete example's (my_statefull_collector.py). Only the
state's codec changes, to JSON, since the PostgreSQL store refuses pickles
unless told otherwise; the config file (shared_state_collector.conf) adds a
[postgresql] section, and that is what moves the state into the database.
Run the same command on every host, each with its own `identity`:

    stateful-collectors run shared_state_collector:SharedStateCollector \
        --config shared_state_collector.conf
"""

from my_statefull_collector import MyStatefullCollector


class SharedStateCollector(MyStatefullCollector):
    state_codec = "json"  # the state, {"last_utc": "..."}, is plain data
