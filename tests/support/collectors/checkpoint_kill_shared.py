"""The checkpoint kill target with its state in PostgreSQL (a JSON state, as the store prefers).

Run by tests/reliability/test_several_hosts_kills.py as a real process (`python -m
tests.support.collectors.checkpoint_kill_shared --config FILE`, from the repository
root with examples/ on PYTHONPATH), with a config holding a `[postgresql]` section,
and killed at random points. Everything else is the guide's CheckpointCollector
through tests/support/collectors/checkpoint_kill.py (the `pid` header).
"""

import sys

import psycopg  # noqa: F401 - imported before the fetch, like pika, so kills after it hit the run

from tests.support.collectors.checkpoint_kill import KillTargetCollector


class SharedKillTargetCollector(KillTargetCollector):
    state_codec = "json"


if __name__ == "__main__":
    sys.exit(SharedKillTargetCollector.cli_main())
