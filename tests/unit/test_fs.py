"""File safety, in its one place (`stateful_collectors.fs`), and the files that go through it.

Every case plants real files: symlinks, hard links, FIFOs, devices, another
user's files (made with os.chown, which needs root; those cases skip
otherwise), and checks the one-line refusal, its exit status, that nothing
blocked, and that the planted file and whatever it points to are unchanged.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from stateful_collectors.errors import ConfigError, ExitStatus, StateFileError
from stateful_collectors.fs import (
    create_private_file,
    open_private_file,
    read_limited_file,
    remove_temp_files,
)
from stateful_collectors.sinks import Exchange
from stateful_collectors.sinks.outbox import OutboxSink
from tests.support.collectors.keeps_state import make_keeps_state
from tests.support.processes import run_cli

COUNTER = "tests.support.collectors.cli:Counter"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="making a file owned by another user needs root (os.chown)"
)


def snapshot(path: Path) -> tuple:
    info = path.lstat()
    data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return (data, info.st_mtime_ns, info.st_mode, info.st_nlink, info.st_uid)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the user's that a planted link could make the collector write."""
    path = tmp_path / "victim.txt"
    path.write_text("the user's own data, not to be touched\n")
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------- open_private_file


def test_open_private_file_refuses_o_trunc(tmp_path):
    with pytest.raises(ValueError, match="does not truncate"):
        open_private_file(tmp_path / "x", os.O_RDWR | os.O_CREAT | os.O_TRUNC, "outbox")


def test_create_private_file_never_opens_an_existing_name(tmp_path, victim):
    link = tmp_path / "new"
    link.symlink_to(victim)
    before = snapshot(victim)
    with pytest.raises(FileExistsError):
        create_private_file(link)
    assert snapshot(victim) == before
    fd = create_private_file(tmp_path / "fresh")
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o600


# ---------------------------------------------------------------- the outbox


def outbox_open(path: Path) -> None:
    sink = OutboxSink(path)
    try:
        sink.open([Exchange("raw")])
    finally:
        sink.close()


REMEDY = "point [outbox] path (or $STATEFUL_COLLECTORS_OUTBOX) at a file of your own"


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        pytest.param(
            lambda path, victim: path.symlink_to(victim),
            "outbox {path} is a symlink; replace it by the real file (a collector never "
            "follows a link to its outbox)",
            id="symlink",
        ),
        pytest.param(
            lambda path, victim: path.symlink_to(path.parent / "not-yet"),
            "outbox {path} is a symlink; replace it by the real file (a collector never "
            "follows a link to its outbox)",
            id="dangling symlink",
        ),
        pytest.param(
            lambda path, victim: os.link(victim, path),
            "outbox {path} has 2 names (hard links), so writing it would change another file "
            "too; move it away so the collector can create its own",
            id="hard link",
        ),
        pytest.param(
            lambda path, victim: os.mkfifo(path, 0o600),
            f"outbox {{path}} is not a regular file; {REMEDY}",
            id="FIFO",
        ),
    ],
)
def test_a_planted_outbox_is_refused_and_nothing_is_appended(tmp_path, victim, plant, expected):
    path = tmp_path / "outbox.jsonl"
    plant(path, victim)
    before = (snapshot(victim), snapshot(path))
    started = time.monotonic()
    with pytest.raises(StateFileError) as raised:
        outbox_open(path)
    assert time.monotonic() - started < 5
    assert str(raised.value) == expected.format(path=path)
    assert (snapshot(victim), snapshot(path)) == before
    assert not (tmp_path / "not-yet").exists()


def test_a_device_as_the_outbox_is_refused(tmp_path):
    with pytest.raises(StateFileError) as raised:
        outbox_open(Path("/dev/full"))
    assert str(raised.value) == f"outbox /dev/full is not a regular file; {REMEDY}"


@needs_root
def test_another_users_outbox_is_refused(tmp_path):
    path = tmp_path / "outbox.jsonl"
    path.write_text("")
    os.chmod(path, 0o600)
    os.chown(path, 4242, 4242)
    with pytest.raises(StateFileError, match=r"belongs to uid 4242, not to this user"):
        outbox_open(path)
    assert path.read_text() == ""


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777])
def test_an_outbox_dir_that_others_may_write_is_refused(tmp_path, mode):
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, mode)
    with pytest.raises(StateFileError) as raised:
        outbox_open(directory / "outbox.jsonl")
    assert str(raised.value) == (
        f"outbox dir {directory} is writable by group or others (mode {mode:04o}), so anyone "
        f"could replace outbox.jsonl; fix with: chmod go-w {directory}"
    )
    assert list(directory.iterdir()) == []


@needs_root
def test_an_outbox_dir_of_another_user_is_refused(tmp_path):
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, 4242, 4242)
    with pytest.raises(StateFileError) as raised:
        outbox_open(directory / "outbox.jsonl")
    assert str(raised.value) == (
        f"outbox dir {directory} belongs to uid 4242, who could replace outbox.jsonl; use a "
        f"directory of your own (uid {os.geteuid()}) for [outbox] path"
    )


def test_creating_the_outbox_makes_its_name_durable(tmp_path, monkeypatch):
    """The directory is fsynced after the file is created in it, not when it already existed.

    A power cut cannot be produced here: the test watches the fsync calls instead
    (a spy that passes every call to the real `os.fsync`).
    """
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    outbox = tmp_path / "out" / "outbox.jsonl"
    outbox_open(outbox)  # creates the directory and the file
    assert str(outbox.parent) in synced and str(tmp_path) in synced
    synced.clear()
    outbox_open(outbox)  # both exist: nothing to make durable
    assert synced == []


# ---------------------------------------------------------------- the state dir


@needs_root
def test_a_state_dir_of_another_user_is_refused_with_exit_4(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, 4242, 4242)
    config = tmp_path / "counter.conf"
    config.write_text(f"[counter]\nstate_dir = {state_dir}\n[outbox]\npath = {tmp_path}/o.jsonl\n")
    result = run_cli("run", COUNTER, "--config", str(config))
    assert result.returncode == ExitStatus.STATE_ERROR
    assert result.stderr == (
        f"Counter: failed: state dir {state_dir} belongs to uid 4242, who could replace "
        f"tests.support.collectors.cli.Counter.pickle; use a directory of your own (uid "
        f"{os.geteuid()}) for state_dir; nothing published; state not saved (the next run "
        "starts from the previous state)\n"
    )
    assert list(state_dir.iterdir()) == []


def test_save_state_refuses_an_open_state_dir_even_without_load_state(tmp_path):
    """A save into a directory group or others may write is refused, loaded before or not."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    os.chmod(state_dir, 0o777)
    collector = make_keeps_state(state_dir)
    with pytest.raises(StateFileError, match=r"is writable by group or others \(mode 0777\)"):
        collector.save_state({"seq": 1, "payload": b""})
    collector.close()
    assert list(state_dir.iterdir()) == []


def test_a_planted_probe_or_temp_name_is_not_followed(tmp_path, victim):
    """Names the library creates next to the state file: planted links are neither followed
    nor removed, and the run stops before fetching."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    collector = make_keeps_state(state_dir)
    name = collector.state_file_path.name
    (state_dir / f".{name}.probe").symlink_to(victim)
    (state_dir / f".{name}.0123abcd.tmp").symlink_to(victim)
    before = snapshot(victim)
    collector.acquire_state_lock()
    with pytest.raises(StateFileError) as raised:
        collector.prepare_state()
    collector.close()
    assert str(raised.value).startswith(f"state dir {state_dir} cannot take a new state file")
    assert snapshot(victim) == before
    assert (state_dir / f".{name}.probe").is_symlink()
    assert remove_temp_files(str(state_dir), name) == 0  # a link is not a leftover of ours


# ---------------------------------------------------------------- files the library reads


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda tmp: (os.mkfifo(tmp / "c.conf", 0o600), tmp / "c.conf")[1],
            "{path}: is a FIFO, not a config file; give the path of a regular file",
            id="FIFO",
        ),
        pytest.param(
            lambda tmp: Path("/dev/zero"),
            "{path}: is a character device, not a config file; give the path of a regular file",
            id="/dev/zero",
        ),
        pytest.param(
            lambda tmp: Path("/dev/urandom"),
            "{path}: is a character device, not a config file; give the path of a regular file",
            id="/dev/urandom",
        ),
        pytest.param(
            lambda tmp: (tmp / "c.conf").mkdir() or tmp / "c.conf",
            "{path}: is a directory, not a config file",
            id="directory",
        ),
        pytest.param(
            lambda tmp: (tmp / "c.conf").write_bytes(b"#" * (1 << 20) + b"\n") and tmp / "c.conf",
            "{path}: config file is larger than 1 MiB, the most a config file may hold; check "
            "that it is the right file",
            id="a file over 1 MiB",
        ),
    ],
)
def test_a_config_file_that_is_no_regular_file_or_too_big_is_exit_3(tmp_path, make, expected):
    path = make(tmp_path)
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        read_limited_file(path, "config file", 1 << 20, error=ConfigError)
    assert str(raised.value) == expected.format(path=path)
    result = run_cli("run", COUNTER, "--config", str(path))
    assert time.monotonic() - started < 30  # neither the FIFO nor a device blocked or filled it
    assert result.returncode == ExitStatus.CONFIG_ERROR
    assert result.stderr == f"Counter: {expected.format(path=path)}\n"


def test_a_file_that_grows_past_the_limit_while_read_is_refused(tmp_path):
    """/proc files say they are empty; the limit holds on what is read, not on the size said."""
    with pytest.raises(StateFileError, match="is larger than 16 bytes"):
        read_limited_file("/proc/self/status", "status file", 16)
