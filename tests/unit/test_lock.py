"""The single-instance lock: who holds it, and lock files planted by someone else.

The lock file is opened without following a link and checked before a byte is
written to it; a planted symlink, hard link, FIFO, directory or another user's
file is refused (exit status 4), and the file it points to or shares its data
with is left exactly as it was. A run that finds the lock taken names the
holder: its pid, since when it runs (UTC) and on which host, also in the
moment between the holder taking the lock and writing who it is.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest

from stateful_collectors.errors import AlreadyRunningError, ExitStatus, StateFileError
from stateful_collectors.state.lock import LockHolder, SingleInstanceLock
from tests.support.processes import run_cli

HOST = os.uname().nodename


def snapshot(path: Path) -> tuple:
    info = path.lstat()
    data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return (data, info.st_mtime_ns, info.st_mode, info.st_nlink)


def test_the_loser_names_the_holder_pid_start_time_and_host(tmp_path):
    lock_path = tmp_path / "x.lock"
    with SingleInstanceLock(lock_path, owner="Demo"):
        pid, since, host = lock_path.read_text().split()
        with pytest.raises(AlreadyRunningError) as raised:
            SingleInstanceLock(lock_path, owner="Demo").acquire()
    assert (pid, host) == (str(os.getpid()), HOST)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", since)
    assert str(raised.value) == (
        f"Demo is already running (pid {pid}, since {since} on {HOST}; holds {lock_path}); "
        "this run did nothing"
    )
    assert raised.value.exit_status == ExitStatus.ALREADY_RUNNING


@pytest.mark.parametrize(
    "left_by_the_previous_holder",
    [
        pytest.param("", id="an empty file (the first run ever)"),
        pytest.param("999999999 2026-01-01T00:00:00Z {host}\n", id="a dead holder's line"),
    ],
)
def test_the_loser_waits_for_the_winner_to_say_who_it_is(tmp_path, left_by_the_previous_holder):
    """The winner takes the flock, then writes its line: a loser in between still names it."""
    lock_path = tmp_path / "x.lock"
    lock_path.write_text(left_by_the_previous_holder.format(host=HOST))
    os.chmod(lock_path, 0o600)
    winner = os.open(lock_path, os.O_RDWR)
    fcntl.flock(winner, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, not yet written

    def write_after_a_while() -> None:
        time.sleep(0.3)
        line = LockHolder(os.getpid(), "2026-11-27T20:00:00Z", HOST).line()
        os.pwrite(winner, line, 0)
        os.ftruncate(winner, len(line))

    writer = threading.Thread(target=write_after_a_while)
    writer.start()
    try:
        with pytest.raises(AlreadyRunningError) as raised:
            SingleInstanceLock(lock_path, owner="Demo").acquire()
    finally:
        writer.join()
        os.close(winner)
    assert f"(pid {os.getpid()}, since 2026-11-27T20:00:00Z on {HOST}; " in str(raised.value)


def plant_symlink(lock_path: Path, victim: Path) -> None:
    lock_path.symlink_to(victim)


def plant_hard_link(lock_path: Path, victim: Path) -> None:
    os.link(victim, lock_path)


def plant_fifo(lock_path: Path, victim: Path) -> None:
    os.mkfifo(lock_path, 0o600)


def plant_directory(lock_path: Path, victim: Path) -> None:
    lock_path.mkdir(mode=0o700)


def plant_other_users_file(lock_path: Path, victim: Path) -> None:
    lock_path.write_text("4242 2026-11-27T20:00:00Z elsewhere\n")
    os.chmod(lock_path, 0o600)
    os.chown(lock_path, 4242, 4242)


def plant_open_file(lock_path: Path, victim: Path) -> None:
    lock_path.write_text("")
    os.chmod(lock_path, 0o666)


PLANTED = [
    pytest.param(plant_symlink, "is a symlink; replace it by the real file", id="symlink"),
    pytest.param(plant_hard_link, "has 2 names (hard links)", id="hard link"),
    pytest.param(plant_fifo, "is not a regular file", id="FIFO"),
    pytest.param(plant_directory, "is not a regular file", id="directory"),
    pytest.param(plant_other_users_file, "belongs to uid 4242", id="another user's file"),
    pytest.param(plant_open_file, "is writable by group or others (mode 0666)", id="mode 0666"),
]


@pytest.mark.parametrize(("plant", "expected"), PLANTED)
def test_a_planted_lock_file_is_refused_and_nothing_is_written(tmp_path, plant, expected):
    if plant is plant_other_users_file and os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root (os.chown)")
    victim = tmp_path / "victim.conf"
    victim.write_text("something the collector's user may write, and must not truncate\n")
    os.chmod(victim, 0o600)
    lock_path = tmp_path / "x.lock"
    plant(lock_path, victim)
    before = (snapshot(victim), snapshot(lock_path))

    started = time.monotonic()
    with pytest.raises(StateFileError) as raised:
        SingleInstanceLock(lock_path, owner="Demo").acquire()

    assert time.monotonic() - started < 5  # a FIFO does not block it
    assert str(raised.value).startswith(f"lock file {lock_path} {expected}")
    assert (snapshot(victim), snapshot(lock_path)) == before


def test_the_run_command_refuses_a_hard_linked_lock_file_with_exit_4(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    os.chmod(victim, 0o600)
    lock_path = state_dir / "tests.support.collectors.cli.Counter.pickle.lock"
    os.link(victim, lock_path)
    config = tmp_path / "counter.conf"
    config.write_text(f"[counter]\nstate_dir = {state_dir}\n[outbox]\npath = {tmp_path}/o.jsonl\n")
    before = snapshot(victim)

    result = run_cli("run", "tests.support.collectors.cli:Counter", "--config", str(config))

    assert result.returncode == ExitStatus.STATE_ERROR
    assert result.stderr == (
        f"Counter: failed: lock file {lock_path} has 2 names (hard links), so writing it would "
        "change another file too; move it away so the collector can create its own; nothing "
        "published; state not saved (the next run starts from the previous state)\n"
    )
    assert snapshot(victim) == before
    assert not (tmp_path / "o.jsonl").exists()
