"""SIGKILL a checkpointing collector at random points, 100 times, against a real RabbitMQ.

The collector is the guide's `examples/checkpoint_collector.py` (through
`checkpoint_kill_target.py`, which adds the process id to each message's
headers): a real process that fetches the demo feed's new items over HTTP and
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
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from checkpoint_collector import CheckpointCollector
from example_runs import run_example

from stateful_collectors.demo_feed import DemoFeed
from stateful_collectors.errors import ConfigError
from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).with_name("checkpoint_kill_target.py")
KILLS = 100
CHECKPOINT_EVERY = 20
BACKLOG = 100  # the feed is topped up so that each run starts with this many new items
EARLY_KILLS = 0.2  # the share of kills aimed at the time before the fetch
ROUTING_KEY = "checkpoint-collector.items"


class Feed:
    """The demo feed, served over HTTP, telling the test when a run has fetched it."""

    def __init__(self) -> None:
        self.feed = DemoFeed(history=BACKLOG, start="2026-11-27T00:00:00Z")
        self.fetched = threading.Event()
        serve_items = self.feed.items

        def items_and_signal(*args, **kwargs):
            found = serve_items(*args, **kwargs)
            self.fetched.set()
            return found

        self.feed.items = items_and_signal  # the HTTP handler calls feed.items()
        self.server = self.feed.serve()

    def top_up(self, published_up_to: int) -> None:
        """Add items until `BACKLOG` of them are newer than `published_up_to`."""
        missing = published_up_to + BACKLOG - len(self.feed)
        if missing > 0:
            self.feed.add(missing)


@pytest.mark.slow
@pytest.mark.broker
def test_sigkill_at_random_points_loses_nothing_and_repeats_at_most_one_interval(
    broker, bound_queue, tmp_path, summary
):
    seed = int(os.environ.get("CHECKPOINT_KILLS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    queue = bound_queue(routing_key=ROUTING_KEY)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    state_file = StateFile(state_dir / "checkpoint_kill_target.KillTargetCollector.pickle")
    feed = Feed()
    config_file = tmp_path / "checkpoint.conf"
    config_file.write_text(
        "[checkpoint_collector]\n"
        f"state_dir = {state_dir}\n"
        f"url = {feed.server.url}/items.json\n"
        f"checkpoint_every = {CHECKPOINT_EVERY}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "examples"), os.environ.get("PYTHONPATH", "")]),
        "STATEFUL_COLLECTORS_AMQP_URL": broker.url,
    }
    stderr_log = tmp_path / "runs.log"

    def start() -> subprocess.Popen[bytes]:
        feed.fetched.clear()
        with open(stderr_log, "ab") as log:
            return subprocess.Popen(
                [sys.executable, str(TARGET), "--config", str(config_file)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def published_up_to() -> int:
        return state_file.load(default=dict).get("last_id", 0)

    runs: list[int] = []  # pids, in order
    killed: set[int] = set()
    startup = window = None  # seconds from start to fetch, and from fetch to exit
    try:
        while len(killed) < KILLS:
            feed.top_up(published_up_to())
            process = start()
            started = time.monotonic()
            runs.append(process.pid)
            if window is None:  # the first run, not killed, measures the time the others take
                assert feed.fetched.wait(30), _tail(stderr_log)
                fetched_at = time.monotonic()
                startup = fetched_at - started
                assert process.wait(timeout=60) == 0, _tail(stderr_log)
                window = time.monotonic() - fetched_at
                continue
            if rng.random() < EARLY_KILLS:
                fetched_at = None
                delay = rng.uniform(0, startup)
            else:
                assert feed.fetched.wait(30), _tail(stderr_log)
                fetched_at = time.monotonic()
                delay = rng.uniform(0, window)
            try:
                returncode = process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                killed.add(process.pid)
            else:  # it finished first: aim the next kills within a shorter time
                assert returncode == 0, _tail(stderr_log)
                if fetched_at is not None:
                    window = 0.8 * window + 0.2 * 0.8 * (time.monotonic() - fetched_at)
        final = start()
        runs.append(final.pid)
        assert final.wait(timeout=120) == 0, _tail(stderr_log)
    finally:
        feed.server.close()

    items = len(feed.feed)
    expected_ids = {item["id"]: item for item in feed.feed.items()}
    delivered = broker.drain(queue, expect=items, timeout=30)
    by_run: dict[int, list[str]] = collections.defaultdict(list)
    ids_seen = set()
    for message in delivered:
        assert message.routing_key == ROUTING_KEY
        item = json.loads(message.body)
        assert expected_ids[item["id"]] == item
        ids_seen.add(item["id"])
        by_run[message.properties.headers["pid"]].append(message.properties.message_id)

    assert sorted(ids_seen) == list(range(1, items + 1)), "some feed items never arrived"
    assert state_file.load(default=dict)["last_id"] == items
    seen_before: set[str] = set()
    repeats_per_run = []
    for pid in runs:
        ids = by_run.pop(pid, [])
        repeats_per_run.append(sum(1 for message_id in ids if message_id in seen_before))
        assert len(ids) == len(set(ids)), "a run published one item twice"
        seen_before.update(ids)
    assert not by_run, "messages from processes the test did not start"
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


# ---------------------------------------------------------------- quick checks, no broker


class CrashesAfterSeven(CheckpointCollector):
    """Fails right after publishing its 7th item (an exception standing in for a crash)."""

    def publish_output(self, *args, **kwargs):
        super().publish_output(*args, **kwargs)
        if self.published_count == 7:
            raise RuntimeError("crash after the 7th item")


def ids_in(messages) -> list[int]:
    return [json.loads(message.body)["id"] for message in messages]


def test_a_failed_run_resumes_from_its_last_checkpoint(feed_server, state_dir, tmp_path):
    feed_server.feed.add(5)  # items 1..10
    config = make_config(
        "checkpoint_collector",
        state_dir=state_dir,
        url=f"{feed_server.url}/items.json",
        checkpoint_every=3,
    )
    outbox = tmp_path / "outbox.jsonl"
    with pytest.raises(RuntimeError, match="crash after the 7th item"):
        collect(CrashesAfterSeven, config, outbox=outbox)
    # The checkpoint after item 6 confirmed items 1..6 (the outbox fsynced them) and
    # saved the state; item 7 was never confirmed.
    assert ids_in(read_outbox(outbox)) == [1, 2, 3, 4, 5, 6]
    (state_file,) = state_dir.glob("*.CrashesAfterSeven.pickle")
    assert StateFile(state_file).load(default=dict)["last_id"] == 6

    resumed = collect(CrashesAfterSeven, config, outbox=outbox)
    assert ids_in(resumed.messages) == [7, 8, 9, 10]
    assert resumed.state == {"last_time": "2026-11-27T20:09:00Z", "last_id": 10}


def test_checkpoint_every_must_be_positive(feed_server, state_dir):
    config = make_config(
        "checkpoint_collector", state_dir=state_dir, url=feed_server.url, checkpoint_every=0
    )
    with pytest.raises(ConfigError) as caught:
        CheckpointCollector(config_text=config)
    assert str(caught.value) == (
        "<config text>: [checkpoint_collector] option 'checkpoint_every' = '0': "
        "the value must be a whole number of 1 or more, e.g. 100"
    )


def test_the_example_runs_twice_as_a_real_process(feed_server, state_dir, tmp_path):
    config_file = tmp_path / "checkpoint.conf"
    config_file.write_text(
        make_config(
            "checkpoint_collector",
            state_dir=state_dir,
            url=f"{feed_server.url}/items.json",
            checkpoint_every=2,
        )
    )
    outbox = tmp_path / "outbox.jsonl"
    program = ROOT / "examples" / "checkpoint_collector.py"

    first = run_example(program, config_file, outbox)
    assert first.returncode == 0, first.stderr
    assert "ok: published 5 message(s)" in first.stderr
    feed_server.feed.add(3)
    second = run_example(program, config_file, outbox)
    assert second.returncode == 0, second.stderr
    assert "ok: published 3 message(s)" in second.stderr

    messages = read_outbox(outbox)
    assert ids_in(messages) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert {m.routing_key for m in messages} == {"checkpoint-collector.items"}
    state_file = state_dir / "checkpoint_collector.CheckpointCollector.pickle"
    assert StateFile(state_file).load(default=dict) == {
        "last_time": "2026-11-27T20:07:00Z",
        "last_id": 8,
    }


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
