"""Cut hosts off from PostgreSQL at random moments around their saves, twenty times over.

The partition counterpart of tests/reliability/test_several_hosts_kills.py:
instead of a process killed, a host cut off by a real, silent partition
(tests/support/partitions.py: network namespaces, every packet dropped on the
host's wire both ways) while its run holds the lock. Four lanes run at once,
each a collector with a row of its own and two hosts that take turns: a run
starts on one host, the test cuts that host off at a random moment between
its load and a little after its end, waits until the server has freed the
lock, brings the network back, and the next run starts on the other host.

The state carries 384 KiB of filler and the hosts' wires are throttled to
8 Mbit/s, so that loading it and saving it keep an answer or a statement in
flight for a while; every `COMMIT` waits 0.3 s on the server, so that some
cuts land while a commit's answer is on its way. The runs have deadlines of
3, 4 or 8 seconds, so that some of the saves the network holds up end at the
deadline's bound rather than at the keepalives' (2 s here).

Then: every feed item must be in the lane's outbox (0 lost); no refused save
may have landed (a trigger records every save that commits); the lock must be
free within the partition bound after each cut; no run may end later than
its deadline plus the margin the store allows itself (`DEADLINE_OVERRUN`) and
its process's exit (each run notes when its deadline started).
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import time

import pytest

from stateful_collectors.errors import ExitStatus
from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state.stores.postgresql import DEADLINE_OVERRUN

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]

LANES = 4
CUTS_PER_LANE = 5
KEEPALIVES = (1, 1, 1)
BOUND = KEEPALIVES[0] + KEEPALIVES[1] * KEEPALIVES[2]  # seconds: the partition bound
SLACK = 1.5  # seconds: the server's timers and this test's polling, on a loaded machine
PADDING = 384 << 10
RATE = "8mbit"
COMMIT_DELAY = 0.3
DEADLINES = (3.0, 4.0, 8.0)
PAST_DEADLINE = DEADLINE_OVERRUN + 0.5
"""How long after its deadline a run may end: the store's margin, and the process's exit."""


def phase(run, at_cut: bool) -> str:
    """Where a run was when its host was cut off (from its logs)."""
    if at_cut:
        return "after its end"
    if run.reached(run.host.published_log):
        return "saving"
    if run.reached(run.host.started_log):
        return "fetching and publishing"
    return "starting and loading"


def outcome(run) -> str:
    line = run.line
    if run.returncode == ExitStatus.SUCCESS:
        return "saved"
    if run.returncode == ExitStatus.LOCK_LOST and "whether the save landed is unknown" in line:
        return "unknown"
    if run.returncode == ExitStatus.LOCK_LOST and "so its save was refused" in line:
        return "refused"
    if run.returncode == ExitStatus.LOCK_LOST and "stopped before saving" in line:
        return "stopped before saving"
    if run.returncode == ExitStatus.TIMED_OUT:
        return "deadline"
    if run.returncode == ExitStatus.FAILURE and "postgresql" in line:
        return "no connection"
    return f"exit {run.returncode}: {run.stderr}"


def run_lane(lane, rng: random.Random) -> list[dict]:
    """The first run times a run; then `CUTS_PER_LANE` runs, each cut off (see the module)."""
    for host in lane.hosts:
        host.net.throttle(RATE)
    first = lane.hosts[1].start(deadline=60)
    published_at = None
    while first.process.poll() is None:
        if published_at is None and first.reached(first.host.published_log):
            published_at = time.monotonic() - first.started
        time.sleep(0.01)
    first.finish()
    assert first.returncode == ExitStatus.SUCCESS, first.stderr
    window = (0.3, first.elapsed + 0.2)  # from shortly after a run's start to after its end
    records = []
    for number in range(CUTS_PER_LANE):
        host = lane.hosts[number % 2]
        lane.feed.add(3)
        deadline = rng.choice(DEADLINES)
        run = host.start(deadline=deadline)
        cut_at = run.started + rng.uniform(*window)
        while time.monotonic() < cut_at and run.process.poll() is None:
            time.sleep(0.005)
        ended = run.process.poll() is not None
        where = phase(run, ended)
        host.net.cut()
        cut = time.monotonic()
        held = lane.table.wait_until_free(lane.name, timeout=BOUND + 60)
        host.net.restore()
        run.finish(timeout=deadline + 60)
        records.append(
            {
                "lane": lane.name,
                "run": run,
                "phase": where,
                "held": held,
                "cut_after": cut - run.started,
                "outcome": outcome(run),
                "past_deadline": run.past_deadline,
            }
        )
    for host in lane.hosts:  # the network whole again: each host runs once more
        host.net.restore()
        last = host.start(deadline=60).finish()
        records.append(
            {
                "lane": lane.name,
                "run": last,
                "phase": None,
                "held": 0.0,
                "cut_after": None,
                "outcome": outcome(last),
                "past_deadline": last.past_deadline,
            }
        )
    return records


def test_20_cuts_around_the_save_lose_nothing_and_free_the_lock_in_time(partition_lanes, summary):
    seed = int(os.environ.get("PARTITION_CUTS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    lanes = [
        partition_lanes(f"lane{n}", keepalives=KEEPALIVES, padding=PADDING) for n in range(LANES)
    ]
    lanes[0].table.delay("commit", COMMIT_DELAY)  # one table for all lanes
    seeds = [rng.randrange(1 << 32) for _ in lanes]
    with concurrent.futures.ThreadPoolExecutor(LANES) as pool:
        futures = [
            pool.submit(run_lane, lane, random.Random(lane_seed))
            for lane, lane_seed in zip(lanes, seeds, strict=True)
        ]
        records = [record for future in futures for record in future.result()]

    lost = duplicates = 0
    for lane in lanes:
        messages = read_outbox(lane.hosts[0].outbox)
        ids = [json.loads(message.body)["id"] for message in messages]
        items = {item["id"] for item in lane.feed.items()}
        lost += len(items - set(ids))
        duplicates += len(ids) - len(set(ids))
    cuts = [record for record in records if record["phase"] is not None]
    outcomes = collections.Counter(record["outcome"] for record in cuts)
    phases = collections.Counter(record["phase"] for record in cuts)
    landed = {
        (lane.name, by) for lane in lanes for _, _, by in lane.saves()
    }  # every save that committed, by lane and "pid N on HOST"

    def did_land(record) -> bool:
        run = record["run"]
        return (record["lane"], f"pid {run.pid} on {run.host.name}") in landed

    unknown_landed = sum(did_land(r) for r in cuts if r["outcome"] == "unknown")
    refused_landed = [r for r in cuts if r["outcome"] == "refused" and did_land(r)]
    longest_held = max(record["held"] for record in cuts)
    assert all(r["past_deadline"] is not None for r in records), "a run noted no start"
    longest_past = max(r["past_deadline"] for r in records)
    line = (
        f"runs: {len(records) + LANES}, cuts: {len(cuts)} "
        f"({', '.join(f'{name}: {count}' for name, count in sorted(phases.items()))}), "
        f"lost: {lost}, duplicates: {duplicates}, refused: {outcomes['refused']}, "
        f"unknown outcome: {outcomes['unknown']} (landed: {unknown_landed}), "
        f"saved before the cut: {outcomes['saved']}, "
        f"stopped before saving: {outcomes['stopped before saving']}, "
        f"no connection: {outcomes['no connection']}, deadline: {outcomes['deadline']}, "
        f"longest time the lock stayed held after a cut: {longest_held:.2f} s (partition bound "
        f"{BOUND} s, {SLACK} s allowed for the server's statement and timers), "
        f"longest run past its deadline: {max(longest_past, 0.0):.2f} s, seed: {seed}"
    )
    print(line)
    summary(line)
    unexpected = [r["outcome"] for r in records if r["outcome"].startswith("exit")]
    assert unexpected == [], line
    assert lost == 0, line
    assert refused_landed == [], line
    for record in records:
        if record["outcome"] == "saved":
            assert did_land(record), record["run"].stderr
    assert all(r["outcome"] == "saved" for r in records if r["phase"] is None), line
    assert longest_held <= BOUND + SLACK, line
    assert longest_past <= PAST_DEADLINE, line
