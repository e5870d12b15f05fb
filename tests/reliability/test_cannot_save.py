"""A run that could not save its state finds out before it fetches or publishes anything.

Before fetching, a stateful run checks (holding its lock) that the state dir
can take a new state file: it creates a probe file next to the state file,
reserves as much disk as the state takes, and removes it. Each way the later
save could fail is produced for real, and each must end the run with exit
status 4, one line naming the path, nothing fetched and nothing published:

* a read-only mount (a tmpfs remounted read-only);
* a full disk (a 64 KiB tmpfs filled to the last byte);
* a state dir of mode 0500, the lock file already there, for a user who is
  not root (root may write anywhere): the run is a process forked from the
  test and switched to the `nobody` user, since this Python installation is
  not readable by other users and cannot be started as one.

And when a save fails after all (a state that outgrew the disk during the
run), the line names the file and the consequence: the next run publishes
the same messages again, which it then does.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from stateful_collectors.errors import ExitStatus
from stateful_collectors.runtime.runner import run_collector
from stateful_collectors.sinks.outbox import read_outbox
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.collectors.cli import Counter
from tests.support.feeds import CountingFeed
from tests.support.mounts import MountRefused, remount, tmpfs
from tests.support.processes import CLI, run_cli
from tests.support.reliability import snapshot_files

EXAMPLE = f"{EXAMPLES}/my_statefull_collector.py:MyStatefullCollector"
STATE_NAME = "my_statefull_collector.MyStatefullCollector.pickle"


@pytest.fixture
def mounted(tmp_path):
    """A 64 KiB tmpfs for the state dir (skips, saying why, where mounting is refused)."""
    try:
        with tmpfs(tmp_path / "disk", "64k") as mount_point:
            yield mount_point
    except MountRefused as exc:
        pytest.skip(f"needs a real small file system: {exc} (run the tests as root)")


def example_config(tmp_path: Path, state_dir: Path, feed_url: str) -> Path:
    config = tmp_path / "collector.conf"
    config.write_text(
        f"[my_statefull_collector]\nstate_dir = {state_dir}\nurl = {feed_url}/items.json\n"
        f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
    )
    return config


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_read_only_state_dir_is_found_before_fetching(tmp_path, mounted, summary):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        state_dir = mounted / "state"
        config = example_config(tmp_path, state_dir, server.url)
        first = run_cli("run", EXAMPLE, "--config", str(config))
        assert first.returncode == 0, first.stderr
        feed.add(2)
        requests, before = feed.requests, snapshot_files(tmp_path)
        remount(mounted, read_only=True)

        result = run_cli("run", EXAMPLE, "--config", str(config))

        remount(mounted, read_only=False)
    line = one_line(result.stderr)
    summary(f"read-only mount: exit {result.returncode}, feed requests: {feed.requests - requests}")
    assert result.returncode == ExitStatus.STATE_ERROR
    assert line == (
        f"MyStatefullCollector: failed: lock file {state_dir / STATE_NAME}.lock cannot be "
        "opened (Read-only file system); its file system is mounted read-only: give the "
        "collector a writable one; nothing published; state not saved (the next run starts "
        "from the previous state)"
    )
    assert feed.requests == requests  # nothing fetched
    assert snapshot_files(tmp_path) == before  # nothing published, nothing written


def fill(directory: Path) -> int:
    """Write a file in `directory` until the file system is full; return its size."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    size = 0
    try:
        while True:
            size += os.write(fd, b"\0" * 512)
    except OSError:  # ENOSPC: full
        return size
    finally:
        os.close(fd)


def test_a_full_disk_is_found_before_fetching(tmp_path, mounted, summary):
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        state_dir = mounted / "state"
        config = example_config(tmp_path, state_dir, server.url)
        first = run_cli("run", EXAMPLE, "--config", str(config))
        assert first.returncode == 0, first.stderr
        feed.add(2)
        filled = fill(mounted)
        requests, before = feed.requests, snapshot_files(tmp_path)

        result = run_cli("run", EXAMPLE, "--config", str(config))

        (mounted / "filler").unlink()
        after_freeing = run_cli("run", EXAMPLE, "--config", str(config))
    line = one_line(result.stderr)
    summary(
        f"full disk ({filled} bytes of filler on a 64 KiB tmpfs): exit {result.returncode}, "
        f"feed requests: {feed.requests - requests - 1}; "
        f"once freed: exit {after_freeing.returncode}"
    )
    assert result.returncode == ExitStatus.STATE_ERROR
    assert line == (
        f"MyStatefullCollector: failed: state dir {state_dir} cannot take a new state file "
        "(No space left on device), so the state could not be saved after publishing; nothing "
        "was fetched: free some space on its file system; nothing published; state not saved "
        "(the next run starts from the previous state)"
    )
    assert feed.requests == requests + 1  # only the run after the space was freed fetched
    assert snapshot_files(tmp_path) != before  # (that run published)
    assert after_freeing.returncode == 0, after_freeing.stderr
    assert [len(json.loads(m.body)) for m in read_outbox(tmp_path / "outbox.jsonl")] == [3, 2]


def run_as(uid: int, gid: int, target, *args) -> tuple[int, str]:
    """Call `target(*args)` in a forked child running as `uid`; (its return value, its stderr).

    Its stdout goes nowhere; what `target` prints on stderr comes back.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, run, leave without pytest's cleanup
        status = 99
        try:
            os.close(read_end)
            os.dup2(write_end, 2)
            sys.stderr = open(2, "w", closefd=False)  # pytest had replaced it
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            status = int(target(*args))
        except BaseException as exc:  # report it: the parent fails with it
            os.write(2, f"child raised {type(exc).__name__}: {exc}\n".encode())
        finally:
            sys.stderr.flush()
            os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.fixture
def nobody_dir():
    """A directory of the `nobody` user that `nobody` can reach (skips when not root)."""
    if os.geteuid() != 0:
        pytest.skip("running a collector as another user needs root (os.setuid)")
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")
    base = Path(tempfile.mkdtemp(prefix="collectors-nobody-", dir="/tmp"))
    os.chmod(base, 0o711)
    home = base / "home"
    home.mkdir(mode=0o700)
    os.chown(home, user.pw_uid, user.pw_gid)
    try:
        yield home, user
    finally:
        shutil.rmtree(base)


def test_a_state_dir_of_mode_0500_is_found_before_publishing(nobody_dir, summary):
    home, user = nobody_dir
    state_dir = home / "state"
    outbox = home / "outbox.jsonl"
    config = home.parent / "counter.conf"
    config.write_text(f"[counter]\nstate_dir = {state_dir}\n[outbox]\npath = {outbox}\n")
    os.chmod(config, 0o644)

    def run() -> int:
        return run_collector(Counter, config_file=str(config))

    first, first_err = run_as(user.pw_uid, user.pw_gid, run)
    assert first == 0, first_err
    os.chmod(state_dir, 0o500)  # the lock file and the state file stay, the dir is closed
    state_file = state_dir / "tests.support.collectors.cli.Counter.pickle"
    before = (state_file.read_bytes(), outbox.read_bytes())

    status, stderr = run_as(user.pw_uid, user.pw_gid, run)

    line = one_line(stderr)
    summary(f"state dir of mode 0500 (as uid {user.pw_uid}): exit {status}, nothing published")
    assert status == ExitStatus.STATE_ERROR
    assert line == (
        f"Counter: failed: state dir {state_dir} cannot take a new state file (Permission "
        "denied), so the state could not be saved after publishing; nothing was fetched: give "
        "the collector's user write access to it; nothing published; state not saved (the next "
        "run starts from the previous state)"
    )
    assert (state_file.read_bytes(), outbox.read_bytes()) == before


def counter_config(tmp_path: Path, state_dir: Path, pad: int = 0) -> Path:
    config = tmp_path / f"counter-{pad}.conf"
    config.write_text(
        f"[counter]\nstate_dir = {state_dir}\npad = {pad}\n"
        f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
    )
    return config


def test_a_save_that_fails_after_publishing_names_the_file_and_the_consequence(
    tmp_path, mounted, summary
):
    state_dir = mounted / "state"
    target = "tests.support.collectors.cli:Counter"
    first = run_cli("run", target, "--config", str(counter_config(tmp_path, state_dir)))
    assert first.returncode == 0, first.stderr
    state_file = state_dir / "tests.support.collectors.cli.Counter.pickle"
    saved = state_file.read_bytes()

    # the state outgrows the disk during the run: 1 MiB of padding on a 64 KiB tmpfs
    result = run_cli("run", target, "--config", str(counter_config(tmp_path, state_dir, 1 << 20)))

    line = one_line(result.stderr)
    unchanged = state_file.read_bytes() == saved
    again = run_cli("run", target, "--config", str(counter_config(tmp_path, state_dir)))
    bodies = [message.body for message in read_outbox(tmp_path / "outbox.jsonl")]
    summary(
        f"a save that fails after publishing: exit {result.returncode}; the next run "
        f"published {bodies[-1]!r} again"
    )
    assert result.returncode == ExitStatus.STATE_ERROR
    assert line == (
        f"Counter: failed: state file {state_file} could not be saved (No space left on "
        f"device); 1 message(s) published to outbox {tmp_path / 'outbox.jsonl'} before it "
        "stopped; state not saved; the next run publishes these 1 message(s) again"
    )
    assert unchanged
    assert not [name for name in os.listdir(state_dir) if name.endswith(".tmp")]
    assert again.returncode == 0, again.stderr
    assert bodies == [b"run 1", b"run 2", b"run 2"]  # the failed run's message, published again


def test_the_probe_reserves_as_much_as_the_state_takes(tmp_path, mounted, summary):
    """A 30 KiB state with 12 KiB free: refused before publishing, though 512 bytes would fit.

    The save writes a whole new copy next to the old state, so the probe must
    find room for the state's size, not for a token amount.
    """
    state_dir = mounted / "state"
    target = "tests.support.collectors.cli:Counter"
    config = counter_config(tmp_path, state_dir, 30 * 1024)
    first = run_cli("run", target, "--config", str(config))
    assert first.returncode == 0, first.stderr
    state_file = state_dir / "tests.support.collectors.cli.Counter.pickle"
    saved = state_file.read_bytes()
    assert len(saved) > 30 * 1024
    filled = fill(mounted)
    os.truncate(mounted / "filler", filled - 12 * 1024)  # 12 KiB free, no more
    free = os.statvfs(mounted).f_bavail * os.statvfs(mounted).f_frsize
    outbox = (tmp_path / "outbox.jsonl").read_bytes()

    result = run_cli("run", target, "--config", str(config))

    line = one_line(result.stderr)
    summary(
        f"a {len(saved)}-byte state with {free} bytes free: exit {result.returncode}, "
        f"messages published: {len(read_outbox(tmp_path / 'outbox.jsonl')) - 1}"
    )
    assert free == 12 * 1024
    assert result.returncode == ExitStatus.STATE_ERROR
    assert line == (
        f"Counter: failed: state dir {state_dir} cannot take a new state file (No space left "
        "on device), so the state could not be saved after publishing; nothing was fetched: "
        "free some space on its file system; nothing published; state not saved (the next run "
        "starts from the previous state)"
    )
    assert (tmp_path / "outbox.jsonl").read_bytes() == outbox  # nothing published
    assert state_file.read_bytes() == saved


def test_a_log_on_a_full_disk_does_not_fail_a_run_that_saved(tmp_path, mounted, summary):
    """`>> collector.log 2>&1` on a full disk: the lines are lost, the run's status is not.

    The collector prints on its own too: Python buffers that, and would fail
    to write it as the process exits (status 120) if the command did not set
    a stream that cannot take it aside first.
    """
    fill(mounted)
    log = mounted / "collector.log"
    config = tmp_path / "chatty.conf"
    config.write_text(
        f"[counter]\nstate_dir = {tmp_path / 'state'}\nmode = chatty\n"
        f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
    )
    command = f'exec "$@" >> {log} 2>&1'
    argv = ["bash", "-c", command, "bash", *CLI, "run", "tests.support.collectors.cli:Counter"]
    result = subprocess.run(
        [*argv, "--config", str(config)],
        cwd=ROOT,
        env=clean_env(PYTHONUNBUFFERED=None),  # as cron runs it: Python buffers stdout
        timeout=60,
        check=False,
    )
    state = pickle.loads(
        (tmp_path / "state" / "tests.support.collectors.cli.Counter.pickle").read_bytes()
    )
    summary(f"a run logging to a full disk: exit {result.returncode}, state saved: {state}")
    assert result.returncode == 0
    assert state == {"runs": 1}
    assert [m.body for m in read_outbox(tmp_path / "outbox.jsonl")] == [b"run 1"]
