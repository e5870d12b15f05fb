"""Two "hosts" sharing one state in a real PostgreSQL: one run at a time, and fenced saves.

Each host is a config file of its own (its `[postgresql] identity` is
`host-a` or `host-b`), and every run is a separate `stateful-collectors run`
process with its own connection, so the runs meet only where runs on two
machines would: in the database. The collector
(tests/support/collectors/shared_feed.py) fetches a real demo feed and can wait
at a gate after it took its lock, and at another before it saves.

* Of 8 runs started at once, alternately on both hosts, exactly one proceeds;
  the others exit with status 5, naming the holder's pid and host.
* A holder killed with SIGKILL leaves no lock behind: the other host's next
  run starts at its first attempt.
* A holder paused (SIGSTOP) after its messages were confirmed, whose session
  the server then ends (`pg_terminate_backend`, as the TCP keepalive does for
  a host that vanished), cannot save when it resumes: the other host has run
  and saved meanwhile, the resumed run exits with status 6 and one line, and
  a consumer of the real RabbitMQ queue finds every item (0 lost).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stateful_collectors.demo import DemoFeed
from stateful_collectors.errors import ExitStatus
from stateful_collectors.sinks.outbox import read_outbox
from tests.support.feeds import CountingFeed
from tests.support.processes import kill_the_rest, start_cli

pytestmark = pytest.mark.postgresql

INSTANCES = 8
COLLECTOR = "tests.support.collectors.shared_feed:SharedFeedCollector"
KEY = "tests.support.collectors.shared_feed.SharedFeedCollector.json"
TIMEOUT = 120  # seconds; generous for a loaded 2-core machine, never reached when all is well


class Host:
    """One host's config file (its identity, gates and logs), and its runs."""

    def __init__(self, root: Path, name: str, dsn: str, feed_url: str, sink: str) -> None:
        self.name = name
        self.root = root
        self.gate = root / "gate"
        self.save_gate = root / f"save-gate-{name}"
        self.started_log = root / "started.log"
        self.published_log = root / "published.log"
        self.config = root / f"{name}.conf"
        self.config.write_text(
            "[shared_feed]\n"
            f"state_dir = {root / 'unused-state-dir'}\n"
            f"url = {feed_url}/items.json\n"
            f"gate = {self.gate}\n"
            f"save_gate = {self.save_gate}\n"
            f"started_log = {self.started_log}\n"
            f"published_log = {self.published_log}\n"
            "[postgresql]\n"
            f"dsn = {dsn}\n"
            f"identity = {name}\n" + sink
        )

    def start(self) -> subprocess.Popen[str]:
        return start_cli("run", COLLECTOR, "--config", str(self.config))

    def pids(self, log: Path) -> list[int]:
        return [int(line) for line in log.read_text().split()] if log.exists() else []


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def already_running_line(pid: int, host: str, dsn: str) -> str:
    return (
        f"SharedFeedCollector: SharedFeedCollector is already running (pid {pid} on {host} "
        f"holds the lock of state row {KEY} of table collector_state at {dsn}); "
        "this run did nothing"
    )


def saved_state(postgresql, dsn: str) -> tuple[dict, int, str] | None:
    rows = postgresql.execute(
        dsn, "SELECT data, version, saved_by FROM collector_state WHERE key = %s", [KEY]
    )
    return (json.loads(bytes(rows[0][0])), rows[0][1], rows[0][2]) if rows else None


def outbox_hosts(tmp_path: Path, pg_dsn: str, feed_url: str) -> tuple[Host, Host, Path]:
    outbox = tmp_path / "outbox.jsonl"
    sink = f"[outbox]\npath = {outbox}\n"
    return (
        Host(tmp_path, "host-a", pg_dsn, feed_url, sink),
        Host(tmp_path, "host-b", pg_dsn, feed_url, sink),
        outbox,
    )


def test_of_8_concurrent_runs_on_two_hosts_exactly_one_proceeds(
    postgresql, pg_dsn, tmp_path, summary
):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        host_a, host_b, outbox = outbox_hosts(tmp_path, pg_dsn, server.url)
        host_a.save_gate.touch()
        host_b.save_gate.touch()
        hosts = [host_a if number % 2 == 0 else host_b for number in range(INSTANCES)]
        processes = [host.start() for host in hosts]
        try:
            wait_for(
                lambda: sum(p.poll() is not None for p in processes) >= INSTANCES - 1,
                f"{INSTANCES - 1} runs to give up",
            )
            running = [p for p in processes if p.poll() is None]
            assert len(running) == 1, "every run exited: " + " | ".join(
                p.communicate()[1] for p in processes
            )
            (winner,) = running
            winner_host = hosts[processes.index(winner)].name
            assert host_a.pids(host_a.started_log) == [winner.pid]
            assert feed.requests == 0  # nobody fetched anything yet
            host_a.gate.touch()
            winner_out, winner_err = winner.communicate(timeout=TIMEOUT)
        finally:
            kill_the_rest(processes)

    losers = [p for p in processes if p is not winner]
    outputs = [p.communicate() for p in losers]
    statuses = [p.returncode for p in losers]
    published = len(read_outbox(outbox))
    line = (
        f"runs: {INSTANCES} on 2 hosts, proceeded: {sum(p.returncode == 0 for p in processes)} "
        f"(on {winner_host}), already running (exit {int(ExitStatus.ALREADY_RUNNING)}): "
        f"{statuses.count(ExitStatus.ALREADY_RUNNING)}, feed requests: {feed.requests}, "
        f"messages published: {published}"
    )
    print(line)
    summary(line)
    assert winner.returncode == ExitStatus.SUCCESS, winner_err
    assert winner_out == ""
    assert statuses == [ExitStatus.ALREADY_RUNNING] * (INSTANCES - 1)
    for stdout, stderr in outputs:
        assert stdout == ""
        assert stderr == already_running_line(winner.pid, winner_host, pg_dsn) + "\n"
    assert feed.requests == 1
    assert published == 3
    assert saved_state(postgresql, pg_dsn) == (
        {"last_id": 3},
        1,
        f"pid {winner.pid} on {winner_host}",
    )


def test_a_sigkilled_holder_leaves_no_lock_behind_on_either_host(
    postgresql, pg_dsn, tmp_path, summary
):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        host_a, host_b, outbox = outbox_hosts(tmp_path, pg_dsn, server.url)
        host_b.save_gate.touch()
        holder = host_a.start()
        try:
            wait_for(lambda: host_a.pids(host_a.started_log) == [holder.pid], "the holder")
            meanwhile = host_b.start()
            meanwhile_out, meanwhile_err = meanwhile.communicate(timeout=TIMEOUT)
            os.kill(holder.pid, signal.SIGKILL)
            holder.communicate(timeout=TIMEOUT)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        host_a.gate.touch()
        started = time.monotonic()
        next_run = host_b.start()  # right after the kill: no waiting, no retry
        next_out, next_err = next_run.communicate(timeout=TIMEOUT)
        took = time.monotonic() - started

    line = (
        f"holder on host-a SIGKILLed while holding the lock (exit {holder.returncode}); a run "
        f"on host-b meanwhile: exit {meanwhile.returncode}; the next run on host-b right after "
        f"the kill: exit {next_run.returncode} at its first attempt, {took:.2f} s; "
        f"feed requests: {feed.requests}, messages published: {len(read_outbox(outbox))}"
    )
    print(line)
    summary(line)
    assert meanwhile.returncode == ExitStatus.ALREADY_RUNNING
    assert meanwhile_out == ""
    assert meanwhile_err == already_running_line(holder.pid, "host-a", pg_dsn) + "\n"
    assert holder.returncode == -signal.SIGKILL
    assert next_run.returncode == ExitStatus.SUCCESS, next_err
    assert next_out == "" and "Traceback" not in next_err
    assert host_a.pids(host_a.started_log) == [holder.pid, next_run.pid]
    assert feed.requests == 1
    assert len(read_outbox(outbox)) == 3
    assert saved_state(postgresql, pg_dsn)[2] == f"pid {next_run.pid} on host-b"


@pytest.mark.broker
def test_a_paused_holder_whose_session_ended_cannot_save_and_nothing_is_lost(
    postgresql, pg_dsn, broker, bound_queue, tmp_path, summary
):
    queue = bound_queue(routing_key="shared-feed.items")
    feed = DemoFeed(history=5, start="2026-11-27T20:00:00Z")
    sink = f"[rabbitmq]\nurl = {broker.url}\n"
    with feed.serve() as server:
        host_a = Host(tmp_path, "host-a", pg_dsn, server.url, sink)
        host_b = Host(tmp_path, "host-b", pg_dsn, server.url, sink)
        host_a.gate.touch()  # the shared gate is open: both fetch at once
        host_b.save_gate.touch()  # host-b saves at once; host-a waits at its save gate
        paused = host_a.start()
        try:
            wait_for(lambda: host_a.pids(host_a.published_log) == [paused.pid], "host-a's confirms")
            os.kill(paused.pid, signal.SIGSTOP)  # a host frozen after its messages were confirmed
            sessions = postgresql.backend_pids(pg_dsn, f"stateful-collectors: pid {paused.pid} %")
            assert len(sessions) == 1, sessions
            assert postgresql.terminate(sessions[0])  # what the keepalive does to a vanished host
            wait_for(lambda: not postgresql.backend_pids(pg_dsn, "stateful-collectors: %"), "end")
            feed.add(3)  # items 6 to 8
            other = host_b.start()
            other_out, other_err = other.communicate(timeout=TIMEOUT)
            os.kill(paused.pid, signal.SIGCONT)
            host_a.save_gate.touch()
            paused_out, paused_err = paused.communicate(timeout=TIMEOUT)
        finally:
            for process in (paused,):
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGCONT)
                    process.kill()
                    process.wait()

    items = {item["id"] for item in feed.items()}
    delivered = broker.drain(queue, expect=len(items) + 5, timeout=30)
    ids = [json.loads(message.body)["id"] for message in delivered]
    lost = items - set(ids)
    by_pid = {
        pid: sum(1 for m in delivered if m.properties.headers["pid"] == pid)
        for pid in (paused.pid, other.pid)
    }
    state = saved_state(postgresql, pg_dsn)
    line = (
        f"host-a paused after {by_pid[paused.pid]} confirmed message(s), its session ended; "
        f"host-b then ran: exit {other.returncode}, published {by_pid[other.pid]}; host-a "
        f"resumed: exit {paused.returncode} (save refused); items: {len(items)}, delivered: "
        f"{len(delivered)}, lost: {len(lost)}; saved: {state[0]} by {state[2]}"
    )
    print(line)
    summary(line)
    assert other.returncode == ExitStatus.SUCCESS, other_err
    assert other_out == ""
    assert paused.returncode == ExitStatus.LOCK_LOST, paused_err
    assert paused_out == ""
    assert "Traceback" not in paused_err
    warning, refusal = paused_err.splitlines()  # the first run's warning, then one line
    assert warning.startswith("WARNING stateful_collectors.state: state row "), warning
    assert refusal.startswith(
        "SharedFeedCollector: failed: SharedFeedCollector lost its lock on state row "
    ), refusal
    assert "its PostgreSQL session ended" in refusal
    assert "5 message(s) published to rabbitmq" in refusal
    assert refusal.endswith("state not saved (the next run starts from the previous state)")
    assert lost == set()
    assert sorted(ids) == sorted([*range(1, 6), *range(1, 9)])  # host-b re-published 1 to 5
    assert state == ({"last_id": 8}, 1, f"pid {other.pid} on host-b")
