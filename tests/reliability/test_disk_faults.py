"""A full disk and failing I/O during `save_state`: it raises, the old state stays, no temp file.

ENOSPC is produced for real: the state dir lives on a 64 KiB tmpfs mounted for
the test (`mount -t tmpfs` needs root; without it the test falls back to
injecting ENOSPC through `stateful_collectors.fs._fs` and says so).

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
from pathlib import Path

import pytest

from stateful_collectors import fs as fs_module
from tests.support.collectors.keeps_state import make_keeps_state
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


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """`(mount point, None)` of a 64 KiB tmpfs, or `(None, why not)` when mounting is refused."""
    mount_point = tmp_path / "small"
    mount_point.mkdir(mode=0o700)
    command = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        yield None, "no mount command"
        return
    if result.returncode != 0:
        yield None, f"mount -t tmpfs refused: {result.stderr.strip() or result.returncode}"
        return
    try:
        yield mount_point, None
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=30)


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
    with pytest.raises(OSError) as raised:
        collector.save_state(TOO_BIG)
    monkeypatch.undo()

    after = snapshot_files(state_dir)
    left = temp_files(state_dir)
    summary(
        f"ENOSPC ({how}): raised {errno.errorcode.get(raised.value.errno)}, "
        f"old state byte-identical: {after == before}, temp files left: {len(left)}"
    )
    assert raised.value.errno == errno.ENOSPC
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
    with pytest.raises(OSError) as raised:
        collector.save_state(NEW)
    monkeypatch.undo()

    after = snapshot_files(state_dir)
    left = temp_files(state_dir)
    summary(
        f"{errno.errorcode[error_number]} on {fail_at} (injected): "
        f"raised {errno.errorcode.get(raised.value.errno)}, "
        f"old state byte-identical: {after == before}, temp files left: {len(left)}"
    )
    assert failing.failures == 1
    assert raised.value.errno == error_number
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
    with pytest.raises(OSError) as raised:
        collector.save_state(NEW)
    monkeypatch.undo()

    left = temp_files(state_dir)
    loaded = collector.load_state()
    holds = {repr(OLD): "old", repr(NEW): "new"}.get(repr(loaded), "neither")
    summary(
        f"EIO on the directory's fsync (injected): raised "
        f"{errno.errorcode.get(raised.value.errno)}, the state file holds: {holds} (whole), "
        f"temp files left: {len(left)}"
    )
    assert failing.failures == 1
    assert raised.value.errno == errno.EIO
    assert left == []
    assert loaded in (OLD, NEW)
    assert not collector.state_saved
    collector.close()
