"""SIGKILL a checkpointing collector at random points, 100 times, against a real RabbitMQ.

The collector is the guide's `examples/checkpoint_collector.py` (through
tests/support/collectors/checkpoint_kill.py, which adds the process id to each
message's headers): a real process that fetches the demo feed's new items over HTTP and
publishes one persistent message per item to a real broker, with a checkpoint
(`self.checkpoint(state)`: wait for the broker's confirms, then save) every
`CHECKPOINT_EVERY` items.

The test starts it again and again and kills it with SIGKILL at a random
moment. The first run is let finish and timed: from its start to its fetch
of the feed, and from the fetch to its exit. Then one kill in five lands
anywhere in the first span (start-up, imports, loading the state), the others
anywhere in the second (connecting, publishing, waiting for confirms, saving
a checkpoint, the final save). Between runs the feed grows, so every run has
`BACKLOG` items to publish. After `KILLS` kills a last run is let finish.

Then the queue must hold every feed item at least once, and no run may have
re-published more items than one checkpoint interval: what was published after
the last checkpoint of the run it follows.

The example's own tests (what the guide says it does, with no broker) are in
tests/examples/test_checkpoint_collector.py.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stateful_collectors.state import StateFile
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.kills import FetchWatchingFeed, KillTiming, tally

TARGET = "tests.support.collectors.checkpoint_kill"
"""The collector, run as `python -m TARGET` (a module of its own: it imports pika up front)."""
KILLS = 100
CHECKPOINT_EVERY = 20
BACKLOG = 100  # the feed is topped up so that each run starts with this many new items
EARLY_KILLS = 0.2  # the share of kills aimed at the time before the fetch
ROUTING_KEY = "checkpoint-collector.items"
RECORDED_RUN = ROOT / "docs" / "assets" / "checkpoint-kills.md"
"""The last recorded run, as the maintainers' page shows it (written with --update-docs)."""


def recorded_run_text(counts: dict[str, int], seed: int) -> str:
    """The include docs/about/tests.md shows: the summary line and what it means."""
    c = counts
    line = (
        f"kills: {c['kills']}, runs: {c['runs']}, items: {c['items']}, "
        f"delivered: {c['delivered']}, duplicates: {c['duplicates']}, "
        f"max per kill: {c['max per kill']} (interval {CHECKPOINT_EVERY}), seed: {seed}"
    )
    return (
        "<!-- Written by `uv run pytest tests/reliability/test_checkpoint_kills.py "
        "--update-docs`; do not edit by hand. -->\n\n"
        f"> `{line}`\n\n"
        f"Every one of the {c['items']:,} items reached the queue. The "
        f"{c['duplicates']:,} extra deliveries are repeats, and no run repeated more "
        f"than {c['max per kill']} items (the checkpoint interval is {CHECKPOINT_EVERY}): "
        "after a kill, only the items published since the last checkpoint came again. "
        f"{c['runs']} runs for {c['kills']} kills: the first run, which the test times to "
        "aim the kills, the last one, and those that finished before their kill came.\n"
    )


@pytest.mark.slow
@pytest.mark.broker
def test_sigkill_at_random_points_loses_nothing_and_repeats_at_most_one_interval(
    broker, bound_queue, tmp_path, summary, request
):
    seed = int(os.environ.get("CHECKPOINT_KILLS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    queue = bound_queue(routing_key=ROUTING_KEY)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    state_file = StateFile(state_dir / f"{TARGET}.KillTargetCollector.pickle")
    feed = FetchWatchingFeed(BACKLOG)
    config_file = tmp_path / "checkpoint.conf"
    config_file.write_text(
        "[checkpoint_collector]\n"
        f"state_dir = {state_dir}\n"
        f"url = {feed.server.url}/items.json\n"
        f"checkpoint_every = {CHECKPOINT_EVERY}\n"
    )
    env = clean_env(
        PYTHONPATH=os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]),
        STATEFUL_COLLECTORS_AMQP_URL=broker.url,
    )
    stderr_log = tmp_path / "runs.log"

    def start() -> subprocess.Popen[bytes]:
        feed.fetched.clear()
        with open(stderr_log, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", TARGET, "--config", str(config_file)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def published_up_to() -> int:
        return state_file.load(default=dict).get("last_id", 0)

    runs: list[int] = []  # pids, in order
    killed: set[int] = set()
    timing = KillTiming(rng, EARLY_KILLS, feed.fetched)
    try:
        while len(killed) < KILLS:
            feed.top_up(published_up_to())
            process = start()
            started = time.monotonic()
            runs.append(process.pid)
            if not timing.measured:  # the first run, not killed, times the others
                timing.measure(process, started, _tail(stderr_log))
                continue
            outcome = timing.kill_at_random(process)
            assert outcome is not None, f"a run did not fetch: {_tail(stderr_log)}"
            if outcome.killed:
                killed.add(process.pid)
            else:
                assert outcome.returncode == 0, _tail(stderr_log)
        final = start()
        runs.append(final.pid)
        assert final.wait(timeout=120) == 0, _tail(stderr_log)
    finally:
        feed.server.close()

    items = len(feed.feed)
    delivered = broker.drain(queue, expect=items, timeout=30)
    assert all(message.routing_key == ROUTING_KEY for message in delivered)
    counted = tally(delivered, runs, {item["id"]: item for item in feed.feed.items()})
    ids_seen, repeats_per_run = counted.ids_seen, counted.repeats_per_run

    assert sorted(ids_seen) == list(range(1, items + 1)), "some feed items never arrived"
    assert state_file.load(default=dict)["last_id"] == items
    duplicates = len(delivered) - items
    assert duplicates == sum(repeats_per_run)
    line = (
        f"kills: {len(killed)}, runs: {len(runs)}, items: {items}, delivered: {len(delivered)}, "
        f"duplicates: {duplicates}, max per kill: {max(repeats_per_run)} "
        f"(interval {CHECKPOINT_EVERY}), seed: {seed}"
    )
    print(line)
    summary(line)
    assert max(repeats_per_run) <= CHECKPOINT_EVERY, line
    assert duplicates <= CHECKPOINT_EVERY * len(killed), line
    if request.config.getoption("update_docs", False):
        counts = {
            "kills": len(killed),
            "runs": len(runs),
            "items": items,
            "delivered": len(delivered),
            "duplicates": duplicates,
            "max per kill": max(repeats_per_run),
        }
        RECORDED_RUN.write_text(recorded_run_text(counts, seed), encoding="utf-8")


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
