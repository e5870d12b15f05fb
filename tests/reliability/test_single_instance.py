"""Concurrent runs of one collector: exactly one proceeds, and a killed holder leaves no stale lock.

The collector (tests/support/collectors/gated.py) runs as real processes of the
`stateful-collectors run` command against a real demo feed. Once it holds its
lock it waits at a gate (a file the test creates), so the test can start all
the other instances while the first one still runs. The feed counts the
requests it serves, and the outbox holds what was published: the losers must
have touched neither.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from stateful_collectors.errors import ExitStatus
from stateful_collectors.sinks.outbox import read_outbox
from tests.support.feeds import CountingFeed
from tests.support.processes import kill_the_rest, start_cli

INSTANCES = 8
GATED_COLLECTOR = "tests.support.collectors.gated:GatedCollector"
TIMEOUT = 120  # seconds; generous for a loaded 2-core machine, never reached when all is well


class Setup:
    """The files one collector's runs share: config, state dir, gate, outbox, started log."""

    def __init__(self, root: Path, feed_url: str) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.gate = root / "gate"
        self.started_log = root / "started.log"
        self.outbox = root / "outbox.jsonl"
        self.config = root / "collector.conf"
        self.config.write_text(
            "[gated_collector]\n"
            f"state_dir = {self.state_dir}\n"
            f"url = {feed_url}/items.json\n"
            f"gate = {self.gate}\n"
            f"started_log = {self.started_log}\n"
            "[outbox]\n"
            f"path = {self.outbox}\n"
        )
        module = GATED_COLLECTOR.partition(":")[0]
        self.lock_file = self.state_dir / f"{module}.GatedCollector.pickle.lock"

    def start(self) -> subprocess.Popen:
        """`stateful-collectors run` of the gated collector (from the repository root)."""
        return start_cli("run", GATED_COLLECTOR, "--config", str(self.config))

    def started_pids(self) -> list[int]:
        if not self.started_log.exists():
            return []
        return [int(line) for line in self.started_log.read_text().split()]

    def published(self) -> int:
        return len(read_outbox(self.outbox)) if self.outbox.exists() else 0


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def already_running_line(setup: Setup, holder_pid: int) -> re.Pattern[str]:
    """The line a loser prints: the holder's pid, start time (UTC) and host, and the lock file."""
    return re.compile(
        re.escape(f"GatedCollector: GatedCollector is already running (pid {holder_pid}, since ")
        + r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
        + re.escape(f" on {os.uname().nodename}; holds {setup.lock_file}); this run did nothing")
        + "\n"
    )


def test_of_8_concurrent_instances_exactly_one_proceeds(tmp_path, summary):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        setup = Setup(tmp_path, server.url)
        processes = [setup.start() for _ in range(INSTANCES)]
        try:
            wait_for(
                lambda: sum(p.poll() is not None for p in processes) >= INSTANCES - 1,
                f"{INSTANCES - 1} instances to give up",
            )
            running = [p for p in processes if p.poll() is None]
            assert len(running) == 1, "every instance exited: " + " | ".join(
                p.communicate()[1] for p in processes
            )
            (winner,) = running
            # the losers have gone; the winner is at its gate: nobody has fetched anything yet
            assert setup.started_pids() == [winner.pid]
            assert feed.requests == 0
            setup.gate.touch()
            winner_out, winner_err = winner.communicate(timeout=TIMEOUT)
        finally:
            kill_the_rest(processes)

    losers = [p for p in processes if p is not winner]
    outputs = [p.communicate() for p in losers]
    statuses = [p.returncode for p in losers]
    summary(
        f"instances: {INSTANCES}, proceeded: {sum(p.returncode == 0 for p in processes)}, "
        f"already running (exit {int(ExitStatus.ALREADY_RUNNING)}): "
        f"{statuses.count(ExitStatus.ALREADY_RUNNING)}, feed requests: {feed.requests}, "
        f"messages published: {setup.published()}"
    )
    assert winner.returncode == ExitStatus.SUCCESS, winner_err
    assert winner_out == ""
    assert winner_err.splitlines()[-1].startswith(
        "GatedCollector: ok: published 1 message(s) to outbox"
    ), winner_err
    assert statuses == [ExitStatus.ALREADY_RUNNING] * (INSTANCES - 1)
    for stdout, stderr in outputs:
        assert stdout == ""
        assert already_running_line(setup, winner.pid).fullmatch(stderr), stderr
    assert feed.requests == 1
    assert setup.published() == 1
    assert setup.started_pids() == [winner.pid]


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path, summary):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        setup = Setup(tmp_path, server.url)
        holder = setup.start()
        try:
            wait_for(lambda: setup.started_pids() == [holder.pid], "the holder to take its lock")
            # while it holds the lock, another instance gives up
            meanwhile = setup.start()
            meanwhile_out, meanwhile_err = meanwhile.communicate(timeout=TIMEOUT)
            os.kill(holder.pid, signal.SIGKILL)
            holder.communicate(timeout=TIMEOUT)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        stale_pid = setup.lock_file.read_text().split()[0]
        setup.gate.touch()
        # right after the kill: no waiting, no retry, no stale-lock timeout
        next_run = setup.start()
        next_out, next_err = next_run.communicate(timeout=TIMEOUT)

    summary(
        f"holder SIGKILLed while holding the lock (exit {holder.returncode}); "
        f"an instance started meanwhile: exit {meanwhile.returncode}; "
        f"the next run right after the kill: exit {next_run.returncode} at its first attempt; "
        f"feed requests: {feed.requests}, messages published: {setup.published()}"
    )
    assert meanwhile.returncode == ExitStatus.ALREADY_RUNNING
    assert meanwhile_out == ""
    assert already_running_line(setup, holder.pid).fullmatch(meanwhile_err), meanwhile_err
    assert holder.returncode == -signal.SIGKILL
    assert stale_pid == str(holder.pid)  # the lock file stays behind; its lock does not
    assert next_run.returncode == ExitStatus.SUCCESS, next_err
    assert next_out == ""
    assert "Traceback" not in next_err
    assert setup.started_pids() == [holder.pid, next_run.pid]
    assert feed.requests == 1
    assert setup.published() == 1
