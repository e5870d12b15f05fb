"""SIGKILL a checkpointing collector 100 times, alternating between two hosts that share its state.

The same experiment as tests/reliability/test_checkpoint_kills.py (read it
first), with the state in a real PostgreSQL instead of a file: the run is the
guide's `CheckpointCollector` (through
tests/support/collectors/checkpoint_kill_shared.py, a JSON state), publishing
to a real RabbitMQ with a checkpoint every `CHECKPOINT_EVERY` items, and the
runs alternate between two "hosts", two config files whose `[postgresql]
identity` differs; every run is its own process with its own connection.
Each run but the first and the last is killed with SIGKILL at a random moment,
and the next run, on the other host, starts at once: the killed run's session
goes with its process, and so does its lock.

The queue must then hold every feed item at least once, no run may re-publish
more than one checkpoint interval, and no run may find the lock still held.
"""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
import time

import pytest

from stateful_collectors.errors import ExitStatus
from tests.reliability.test_checkpoint_kills import BACKLOG, EARLY_KILLS, ROUTING_KEY, _tail
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.kills import FetchWatchingFeed, KillTiming, tally

pytestmark = [pytest.mark.postgresql, pytest.mark.broker, pytest.mark.slow]

TARGET = "tests.support.collectors.checkpoint_kill_shared"
KEY = f"{TARGET}.SharedKillTargetCollector.json"
KILLS = 100
CHECKPOINT_EVERY = 20
HOSTS = ("host-a", "host-b")


def test_100_kills_alternating_between_two_hosts_lose_nothing(
    postgresql, pg_dsn, broker, bound_queue, tmp_path, summary
):
    seed = int(os.environ.get("CHECKPOINT_KILLS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    queue = bound_queue(routing_key=ROUTING_KEY)
    feed = FetchWatchingFeed(BACKLOG)
    configs = {}
    for host in HOSTS:
        configs[host] = tmp_path / f"{host}.conf"
        configs[host].write_text(
            "[checkpoint_collector]\n"
            f"state_dir = {tmp_path / 'unused-state-dir'}\n"
            f"url = {feed.server.url}/items.json\n"
            f"checkpoint_every = {CHECKPOINT_EVERY}\n"
            f"[postgresql]\ndsn = {pg_dsn}\nidentity = {host}\n"
        )
    env = clean_env(
        PYTHONPATH=os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]),
        STATEFUL_COLLECTORS_AMQP_URL=broker.url,
    )
    stderr_log = tmp_path / "runs.log"

    def start(host: str) -> subprocess.Popen[bytes]:
        feed.fetched.clear()
        with open(stderr_log, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", TARGET, "--config", str(configs[host])],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def saved() -> dict:
        if not postgresql.execute(pg_dsn, "SELECT to_regclass('collector_state')")[0][0]:
            return {}  # the first run creates the table
        rows = postgresql.execute(pg_dsn, "SELECT data FROM collector_state WHERE key = %s", [KEY])
        return json.loads(bytes(rows[0][0])) if rows else {}

    runs: list[tuple[int, str]] = []  # (pid, host), in order
    killed: dict[str, int] = collections.Counter()
    refused = 0  # runs that found the lock still held
    timing = KillTiming(rng, EARLY_KILLS, feed.fetched)
    try:
        while sum(killed.values()) < KILLS:
            host = HOSTS[len(runs) % 2]
            feed.top_up(saved().get("last_id", 0))
            process = start(host)
            started = time.monotonic()
            runs.append((process.pid, host))
            if not timing.measured:  # the first run, not killed, times the others
                timing.measure(process, started, _tail(stderr_log))
                continue
            outcome = timing.kill_at_random(process)
            if outcome is None:
                refused += process.wait(timeout=30) == ExitStatus.ALREADY_RUNNING
                pytest.fail(f"a run on {host} did not fetch: {_tail(stderr_log)}")
            if outcome.killed:
                killed[host] += 1
            else:
                refused += outcome.returncode == ExitStatus.ALREADY_RUNNING
                assert outcome.returncode == 0, _tail(stderr_log)
        host = HOSTS[len(runs) % 2]
        final = start(host)
        runs.append((final.pid, host))
        assert final.wait(timeout=120) == 0, _tail(stderr_log)
    finally:
        feed.server.close()

    items = len(feed.feed)
    delivered = broker.drain(queue, expect=items, timeout=30)
    counted = tally(
        delivered, [pid for pid, _ in runs], {item["id"]: item for item in feed.feed.items()}
    )
    seen_ids, repeats = counted.ids_seen, counted.repeats_per_run
    lost = items - len(seen_ids)
    duplicates = len(delivered) - items
    line = (
        f"kills: {sum(killed.values())} ({', '.join(f'{h}: {killed[h]}' for h in HOSTS)}), "
        f"runs: {len(runs)}, items: {items}, delivered: {len(delivered)}, lost: {lost}, "
        f"duplicates: {duplicates}, max per kill: {max(repeats)} (interval {CHECKPOINT_EVERY}), "
        f"lock found held: {refused}, seed: {seed}"
    )
    print(line)
    summary(line)
    assert lost == 0, line
    assert sorted(seen_ids) == list(range(1, items + 1)), line
    assert saved()["last_id"] == items
    assert duplicates == sum(repeats)
    assert max(repeats) <= CHECKPOINT_EVERY, line
    assert refused == 0, line
