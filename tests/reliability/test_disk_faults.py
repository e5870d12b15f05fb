"""A full disk and failing I/O during `save_state`: it raises, the old state stays, no temp file.

ENOSPC is produced for real: the state dir lives on a 64 KiB tmpfs mounted for
the test (the `small_tmpfs` fixture of tests/support/mounts.py: `mount -t
tmpfs` needs root; without it the test falls back to injecting ENOSPC through
`stateful_collectors.fs._fs` and says so). The save raises `StateSaveError`,
which names the state file; the `OSError` is its cause.

EIO cannot be produced for real here: it takes a device that fails on demand
(device-mapper's dm-error or dm-flakey), and this kernel has no device-mapper
(`/dev/mapper/control` is missing). So EIO is injected through
`stateful_collectors.fs._fs`, at each system call of a save in turn, by a
stand-in that passes every other call to the real OS.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stateful_collectors import fs as fs_module
from stateful_collectors.errors import StateSaveError
from tests.support import ROOT, clean_env
from tests.support.collectors.keeps_state import make_keeps_state
from tests.support.mounts import is_mounted
from tests.support.reliability import snapshot_files, temp_files

OLD = {"seq": 1, "last_utc": "2026-11-27T20:00:00Z"}
NEW = {"seq": 2, "last_utc": "2026-11-27T21:00:00Z"}
TOO_BIG = {"seq": 3, "payload": os.urandom(1 << 20)}  # 1 MiB: more than the 64 KiB tmpfs holds


class FailingOs:
    """Stands in for `fs._fs`: the real OS, except that `fail_at` raises `error_number`.

    A failing `write` first writes half of its data for real (a full disk
    accepts a partial write before it refuses); a failing `close` closes the
    descriptor for real, then raises.
    """

    def __init__(self, fail_at: str, error_number: int, *, directory: bool = False) -> None:
        self.fail_at = fail_at
        self.error_number = error_number
        self.directory = directory  # fail the fsync of the directory instead of the file's
        self.failures = 0
        self._writes = 0

    def _fail(self) -> None:
        self.failures += 1
        raise OSError(self.error_number, os.strerror(self.error_number))

    def open(self, path, flags, mode=0o777):
        if self.fail_at == "open":
            self._fail()
        return os.open(path, flags, mode)

    def write(self, fd, data):
        if self.fail_at == "write":
            self._writes += 1
            if self._writes == 1 and len(data) > 1:
                return os.write(fd, data[: len(data) // 2])
            self._fail()
        return os.write(fd, data)

    def fsync(self, fd):
        is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
        if self.fail_at == "fsync" and is_dir == self.directory:
            self._fail()
        os.fsync(fd)

    def close(self, fd):
        os.close(fd)
        if self.fail_at == "close":
            self._fail()

    def replace(self, src, dst):
        if self.fail_at == "replace":
            self._fail()
        os.replace(src, dst)

    def unlink(self, path):
        os.unlink(path)


def collector_with_old_state(state_dir: Path):
    """A fresh collector (holding the lock) whose state file holds OLD, saved by an earlier run."""
    earlier = make_keeps_state(state_dir)
    earlier.save_state(OLD)
    earlier.close()
    collector = make_keeps_state(state_dir)
    assert collector.load_state() == OLD
    return collector


def test_enospc_on_write_raises_and_keeps_the_old_state(
    small_tmpfs, tmp_path, monkeypatch, summary
):
    mount_point, why_not_real = small_tmpfs
    if mount_point is not None:
        state_dir = mount_point / "state"
        how = "real, on a 64 KiB tmpfs"
    else:
        state_dir = tmp_path / "state"
        failing = FailingOs("write", errno.ENOSPC)
        how = f"injected through fs._fs, because {why_not_real}"
    collector = collector_with_old_state(state_dir)
    before = snapshot_files(state_dir)

    if mount_point is None:
        monkeypatch.setattr(fs_module, "_fs", failing)
    with pytest.raises(StateSaveError) as saving:
        collector.save_state(TOO_BIG)
    monkeypatch.undo()
    raised = saving.value.__cause__
    assert isinstance(raised, OSError)
    assert str(saving.value) == (
        f"state file {collector.state_file_path} could not be saved (No space left on device)"
    )

    after = snapshot_files(state_dir)
    left = temp_files(state_dir)
    summary(
        f"ENOSPC ({how}): raised {errno.errorcode.get(raised.errno)}, "
        f"old state byte-identical: {after == before}, temp files left: {len(left)}"
    )
    assert raised.errno == errno.ENOSPC
    assert after == before  # the state file and the lock file: same bytes, mtime and mode
    assert left == []
    assert collector.load_state() == OLD
    assert not collector.state_saved
    # the failed save gave its space back: the next one fits
    collector.save_state(NEW)
    assert collector.load_state() == NEW
    collector.close()


@pytest.mark.parametrize(
    ("fail_at", "error_number"),
    [
        pytest.param(call, errno.EIO, id=call)
        for call in ("open", "write", "fsync", "close", "replace")
    ],
)
def test_io_error_before_the_rename_keeps_the_old_state(
    fail_at, error_number, state_dir, monkeypatch, summary
):
    collector = collector_with_old_state(state_dir)
    before = snapshot_files(state_dir)

    failing = FailingOs(fail_at, error_number)
    monkeypatch.setattr(fs_module, "_fs", failing)
    with pytest.raises(StateSaveError) as saving:
        collector.save_state(NEW)
    monkeypatch.undo()
    raised = saving.value.__cause__
    assert isinstance(raised, OSError)

    after = snapshot_files(state_dir)
    left = temp_files(state_dir)
    summary(
        f"{errno.errorcode[error_number]} on {fail_at} (injected): "
        f"raised {errno.errorcode.get(raised.errno)}, "
        f"old state byte-identical: {after == before}, temp files left: {len(left)}"
    )
    assert failing.failures == 1
    assert raised.errno == error_number
    assert after == before
    assert left == []
    assert collector.load_state() == OLD
    assert not collector.state_saved
    collector.close()


def test_io_error_on_the_directory_fsync_raises_and_leaves_a_whole_state(
    state_dir, monkeypatch, summary
):
    """The directory's fsync comes after the rename: the old state cannot be kept as it was.

    By then the new file, fsynced, has replaced the old one, which is gone. The
    save must still raise (it cannot promise the rename survives a power cut),
    leave no temporary file, and leave a whole state, old or new, that loads.
    """
    collector = collector_with_old_state(state_dir)

    failing = FailingOs("fsync", errno.EIO, directory=True)
    monkeypatch.setattr(fs_module, "_fs", failing)
    with pytest.raises(StateSaveError) as saving:
        collector.save_state(NEW)
    monkeypatch.undo()
    raised = saving.value.__cause__
    assert isinstance(raised, OSError)

    left = temp_files(state_dir)
    loaded = collector.load_state()
    holds = {repr(OLD): "old", repr(NEW): "new"}.get(repr(loaded), "neither")
    summary(
        f"EIO on the directory's fsync (injected): raised "
        f"{errno.errorcode.get(raised.errno)}, the state file holds: {holds} (whole), "
        f"temp files left: {len(left)}"
    )
    assert failing.failures == 1
    assert raised.errno == errno.EIO
    assert left == []
    assert loaded in (OLD, NEW)
    assert not collector.state_saved
    collector.close()


INNER_TEST = """
import os


def test_fails_holding_a_file_open(small_tmpfs):
    mount_point, why_not = small_tmpfs
    assert mount_point is not None, why_not
    os.open(mount_point / "held", os.O_CREAT | os.O_RDWR, 0o600)  # kept open: umount is busy
    with open(os.environ["MOUNT_POINT_NOTE"], "w") as note:
        note.write(str(mount_point))
    raise AssertionError("this test fails on purpose, holding a file open on the tmpfs")
"""


def test_the_small_tmpfs_is_unmounted_when_its_test_fails(tmp_path):
    """The fixture's unmount runs however its test ends, even with a file still open there."""
    test_file = tmp_path / "test_fails_on_a_tmpfs.py"
    test_file.write_text(INNER_TEST)
    note = tmp_path / "mount_point"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", str(test_file), "-p", "tests.support.mounts"]
        + ["-p", "no:cacheprovider", "-q", "--basetemp", str(tmp_path / "base")],
        cwd=ROOT,
        env=clean_env(PYTHONPATH=str(ROOT), MOUNT_POINT_NOTE=str(note)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "mount -t tmpfs refused" in result.stdout or "no mount command" in result.stdout:
        pytest.skip("mounting a tmpfs needs root (run the tests as root to check the unmount)")
    assert "1 failed" in result.stdout, result.stdout
    assert "error" not in result.stdout.splitlines()[-1], result.stdout  # no teardown error
    mount_point = Path(note.read_text())
    assert not is_mounted(mount_point), f"{mount_point} is still mounted"
