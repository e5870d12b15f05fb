"""Hosts cut off from PostgreSQL by a real, silent partition: what the several-hosts page promises.

Each "host" is a network namespace of its own (tests/support/partitions.py)
whose runs reach the database through a veth pair; a cut drops every packet
on both ends of it, with no RST and no error, as a pulled cable does. The
runs are real `stateful-collectors run` processes, with their state in a
PostgreSQL server of the test session's own, and their messages in one
outbox. The cases are those the partition bound and the deadline must cover
(docs/several-hosts.md, "When a host vanishes"):

* a holder cut off while the server sends it an answer (its state, over a
  throttled link), then killed: the server frees the lock within the
  partition bound, and the other host's next run proceeds;
* a save that the network holds up ends before the run's deadline, although
  the partition bound is a minute: refused, nothing saved;
* a `COMMIT` whose answer never comes: the run says the outcome is unknown;
  the next run carries on from the save when it landed, and publishes again
  what the run published when it did not;
* a save that starts in the deadline's last moments and is cut off once its
  `COMMIT` left: the run ends shortly after its deadline, with status 124 and
  a line that says the save's outcome is unknown;
* a holder whose session ended during a partition saves after the network is
  back, once the other host has saved: its save is refused, the row is the
  other host's;
* the namespaces and links an earlier, killed session left are removed.

tests/reliability/test_partition_cuts.py cuts hosts at random moments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from stateful_collectors.errors import ExitStatus
from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state.stores.postgresql import DEADLINE_OVERRUN, LEAST_WAIT
from tests.support.partitions import PREFIX, remove_leftovers, row_key

pytestmark = [pytest.mark.postgresql]

QUICK = (1, 1, 1)  # keepalives: idle, interval, count; a partition bound of 2 s
BOUND = sum(QUICK[:1]) + QUICK[1] * QUICK[2]
SLACK = 1.5  # seconds: the server's timers and this test's polling, on a loaded machine
STARTUP = 1.5  # seconds from a process's start to its deadline's (imports), on a loaded machine
TIMEOUT = 60


def wait_for(condition, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def monotonic_mtime(path) -> float:
    """When `path` was last written, on `time.monotonic()`'s clock."""
    return path.stat().st_mtime - time.time() + time.monotonic()


def pid_phrase(run) -> str:
    return f"pid {run.pid} on {run.host.name}"


def published_by(lane, run) -> list[int]:
    outbox = lane.hosts[0].outbox
    messages = read_outbox(outbox) if outbox.exists() else []
    return [
        json.loads(m.body)["id"]
        for m in messages
        if (m.properties.get("headers") or {}).get("pid") == run.pid
    ]


def test_a_holder_cut_off_while_the_server_sends_it_an_answer_frees_the_lock_in_time(
    partition_lanes, summary
):
    lane = partition_lanes("answer", keepalives=QUICK, padding=4 << 20)
    host_a, host_b = lane.hosts
    first = host_b.start(deadline=60).finish()  # saves a 4 MiB state
    assert first.returncode == ExitStatus.SUCCESS, first.stderr
    host_a.net.throttle("8mbit")  # its load takes about 4 s
    holder = host_a.start(deadline=60)
    wait_for(lambda: lane.table.sending(pid_phrase(holder)), "the server to send the state")
    time.sleep(0.3)
    host_a.net.cut()
    cut = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)  # the host vanished, as far as anyone can tell
    held = lane.table.wait_until_free(lane.name, timeout=TIMEOUT)
    holder.finish()
    lane.feed.add(2)
    taken_over = host_b.start(deadline=60).finish()
    line = (
        f"holder on host-a cut off while the server sent it its 4 MiB state, then killed; "
        f"lock freed {held:.2f} s after the cut (partition bound {BOUND} s); host-b's next "
        f"run: exit {taken_over.returncode}, published {len(published_by(lane, taken_over))}"
    )
    print(line)
    summary(line)
    assert held <= BOUND + SLACK, line
    assert time.monotonic() - cut < BOUND + SLACK + 30
    assert taken_over.returncode == ExitStatus.SUCCESS, taken_over.stderr
    assert published_by(lane, taken_over) == [4, 5]


def test_a_save_the_network_holds_up_ends_before_the_runs_deadline(partition_lanes, summary):
    lane = partition_lanes("deadline")  # the default keepalives: a partition bound of 60 s
    host_a, host_b = lane.hosts
    deadline = 6.0
    holder = host_a.start(deadline=deadline, wait_at_save=True)
    wait_for(lambda: holder.reached(host_a.published_log), "host-a's confirms")
    host_a.net.cut()
    host_a.open_save_gate()
    holder.finish(timeout=120)
    host_a.net.restore()
    # Its deadline started before its load, which started.log notes.
    after_load = holder.started + holder.elapsed - monotonic_mtime(host_a.started_log)
    line = (
        f"--deadline {deadline:g}, network cut before the save (partition bound 60 s): exit "
        f"{holder.returncode} {after_load:.2f} s after its load: {holder.line}"
    )
    print(line)
    summary(line)
    assert after_load < deadline, line
    assert holder.returncode == ExitStatus.LOCK_LOST, holder.stderr
    assert "Traceback" not in holder.stderr
    assert holder.line.startswith(
        "PartitionedFeedCollector: failed: PartitionedFeedCollector lost its lock on state row "
    ), holder.line
    assert "(its PostgreSQL session ended: " in holder.line
    assert "), so its save was refused; its messages were confirmed, so nothing is lost" in (
        holder.line
    )
    assert holder.line.endswith(
        "3 message(s) published to outbox "
        f"{host_a.outbox} before it stopped; state not saved (the next run starts from the "
        "previous state)"
    ), holder.line
    assert lane.saves() == []
    taken_over = host_b.start(deadline=60).finish()  # the lock is free once the server knows
    assert taken_over.returncode in (ExitStatus.SUCCESS, ExitStatus.ALREADY_RUNNING)


@pytest.mark.parametrize("lands", [True, False], ids=["commit lands", "commit lost"])
def test_a_commit_whose_answer_is_lost_is_said_as_unknown(partition_lanes, summary, lands):
    lane = partition_lanes("unknown", keepalives=QUICK)
    host_a, host_b = lane.hosts
    first = host_b.start(deadline=60).finish()
    assert first.returncode == ExitStatus.SUCCESS, first.stderr
    lane.feed.add(3)  # items 4 to 6
    if lands:
        lane.table.delay("commit", 0.5)  # the COMMIT arrives, and takes its time
        step = "COMMIT"
    else:
        lane.table.delay("update", 0.5)  # the UPDATE takes its time; its answer comes back
        step = "UPDATE"
    holder = host_a.start(deadline=60)
    wait_for(lambda: lane.table.running(pid_phrase(holder), step), f"host-a's {step}")
    if lands:
        host_a.net.cut()  # the COMMIT's answer will never arrive
    else:
        host_a.net.cut(outgoing_only=True)  # the UPDATE's answer arrives; the COMMIT is lost
    cut = time.monotonic()
    holder.finish(timeout=120)
    gave_up = time.monotonic() - cut
    lane.table.delay("commit", 0)
    lane.table.delay("update", 0)
    held = lane.table.wait_until_free(lane.name, timeout=TIMEOUT)
    host_a.net.restore()
    landed = any(by == pid_phrase(holder) for _, _, by in lane.saves())
    lane.feed.add(2)  # items 7 and 8
    after = host_b.start(deadline=60).finish()
    again = published_by(lane, after)
    line = (
        f"{step} sent, its answer lost: exit {holder.returncode} {gave_up:.2f} s after the cut; "
        f"the save {'landed' if landed else 'did not land'}; the next run published {again}: "
        f"{holder.line}"
    )
    print(line)
    summary(line)
    assert holder.returncode == ExitStatus.LOCK_LOST, holder.stderr
    assert "Traceback" not in holder.stderr
    assert holder.line.startswith(
        "PartitionedFeedCollector: failed: PartitionedFeedCollector lost its PostgreSQL session "
        "while committing its save to state row "
    ), holder.line
    assert "so whether the save landed is unknown; its messages were confirmed, so nothing is " in (
        holder.line
    )
    assert "the next run reads the row and carries on from this save if it landed, or else " in (
        holder.line
    )
    assert holder.line.endswith(
        f"; 3 message(s) published to outbox {host_a.outbox} before it stopped"
    ), holder.line  # neither "state saved" nor "state not saved"
    assert "refused" not in holder.line
    assert holder.elapsed <= BOUND + SLACK + 3, line
    assert held <= BOUND + SLACK, line
    assert landed is lands, line
    assert after.returncode == ExitStatus.SUCCESS, after.stderr
    assert again == ([7, 8] if lands else [4, 5, 6, 7, 8]), line


def test_a_stale_save_after_the_network_is_back_is_refused(partition_lanes, summary):
    lane = partition_lanes("stale", keepalives=QUICK)
    host_a, host_b = lane.hosts
    stale = host_a.start(deadline=60, wait_at_save=True)
    wait_for(lambda: stale.reached(host_a.published_log), "host-a's confirms")
    host_a.net.cut()
    held = lane.table.wait_until_free(lane.name, timeout=TIMEOUT)
    lane.feed.add(2)
    newer = host_b.start(deadline=60).finish()
    host_a.net.restore()
    host_a.open_save_gate()
    stale.finish()
    saves = lane.saves()
    line = (
        f"host-a cut off before its save; lock freed after {held:.2f} s; host-b ran: exit "
        f"{newer.returncode}; the network back, host-a saved: exit {stale.returncode}; "
        f"saves landed: {[(version, last_id) for version, last_id, _ in saves]}"
    )
    print(line)
    summary(line)
    assert held <= BOUND + SLACK, line
    assert newer.returncode == ExitStatus.SUCCESS, newer.stderr
    assert stale.returncode == ExitStatus.LOCK_LOST, stale.stderr
    assert "), so its save was refused; its messages were confirmed" in stale.line
    assert [by for _, _, by in saves] == [pid_phrase(newer)]
    assert lane.table.last_id(lane.name) == 5


def test_a_save_cut_off_in_the_deadlines_last_moments_says_how_it_ended(partition_lanes, summary):
    lane = partition_lanes("corner", keepalives=QUICK)
    host_a, _ = lane.hosts
    deadline = 4.0
    lane.table.delay("commit", 3.0)
    holder = host_a.start(deadline=deadline, wait_at_save=True)
    wait_for(lambda: holder.reached(host_a.published_log), "host-a's confirms")
    # The deadline started just before the run's load (noted in started.log): the save
    # starts about a second before it passes.
    started = monotonic_mtime(host_a.started_log)
    time.sleep(max(0.0, started + deadline - 1.0 - time.monotonic()))
    host_a.open_save_gate()
    wait_for(lambda: lane.table.running(pid_phrase(holder), "COMMIT"), "host-a's COMMIT")
    host_a.net.cut()
    holder.finish()
    host_a.net.restore()
    line = (
        f"--deadline {deadline:g}, save started about 1 s before it, cut once its COMMIT "
        f"left: exit {holder.returncode} after {holder.elapsed:.2f} s: {holder.line}"
    )
    print(line)
    summary(line)
    assert holder.returncode == ExitStatus.TIMED_OUT, holder.stderr
    assert holder.line.startswith(
        f"PartitionedFeedCollector: deadline passed ({deadline:g} s) during a save: "
        "PartitionedFeedCollector lost its PostgreSQL session while committing its save "
    ), holder.line
    assert "so whether the save landed is unknown" in holder.line
    assert holder.line.endswith(
        f"; 3 message(s) published to outbox {host_a.outbox} before it stopped"
    ), holder.line
    assert holder.elapsed <= deadline + DEADLINE_OVERRUN + STARTUP, line


def test_leftovers_of_a_killed_session_are_removed(partition_network):
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs, as a killed session's
    namespace, link = f"{PREFIX}{gone.pid}h0", f"{PREFIX}{gone.pid}w0"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", link + "p"])
    ours = partition_network.host("ours")
    try:
        removed = remove_leftovers()
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    finally:
        partition_network.remove(ours)
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
    assert namespace in removed and link in removed
    assert namespace not in namespaces.stdout and f" {link}@" not in links.stdout
    assert ours.name in namespaces.stdout and ours.wire in namespaces.stdout


def test_a_load_cut_off_near_the_deadline_ends_with_one_line(partition_lanes, summary):
    lane = partition_lanes("load", keepalives=QUICK, padding=2 << 20)
    host_a, host_b = lane.hosts
    first = host_b.start(deadline=60).finish()  # saves a 2 MiB state
    assert first.returncode == ExitStatus.SUCCESS, first.stderr
    host_a.net.throttle("8mbit")  # its load takes about 2 s, more than its deadline leaves
    deadline = 2.0
    holder = host_a.start(deadline=deadline)
    wait_for(lambda: lane.table.sending(pid_phrase(holder)), "the server to send the state")
    host_a.net.cut()
    cut = time.monotonic()
    holder.finish()
    ended = time.monotonic() - cut
    host_a.net.restore()
    line = (
        f"--deadline {deadline:g}, cut while loading a 2 MiB state: exit {holder.returncode} "
        f"{ended:.2f} s after the cut: {holder.stderr.strip()}"
    )
    print(line)
    summary(line)
    assert holder.returncode == ExitStatus.TIMED_OUT, holder.stderr
    assert holder.stderr.splitlines() == [
        f"PartitionedFeedCollector: deadline passed ({deadline:g} s); nothing published; "
        "state not saved (the next run starts from the previous state)"
    ]
    assert ended <= DEADLINE_OVERRUN + SLACK, line


def test_a_host_cut_off_right_after_its_save_says_so_and_exits_at_once(partition_lanes, summary):
    lane = partition_lanes("after")  # the default keepalives: a partition bound of 60 s
    host_a, _ = lane.hosts
    lane.table.delay("commit", 0.5)
    holder = host_a.start(deadline=60)
    wait_for(lambda: lane.table.running(pid_phrase(holder), "COMMIT"), "host-a's COMMIT")
    host_a.net.cut(outgoing_only=True)  # the COMMIT's answer arrives; nothing more leaves
    cut = time.monotonic()
    holder.finish()
    ended = time.monotonic() - cut
    host_a.net.restore()
    line = (
        f"cut once host-a's COMMIT was under way, its answer let through: exit "
        f"{holder.returncode} {ended:.2f} s after the cut: {holder.line}"
    )
    print(line)
    summary(line)
    assert holder.returncode == ExitStatus.SUCCESS, holder.stderr
    assert "; state saved to postgresql://" in holder.line, holder.line
    assert holder.line.endswith(f", table collector_state, key {row_key(lane.name)}")
    assert [by for _, _, by in lane.saves()] == [pid_phrase(holder)]
    assert ended <= 0.5 + LEAST_WAIT + 1 + SLACK, line  # the commit, then the unlock given up
