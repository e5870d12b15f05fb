"""Small real file systems for the tests that fill a disk or make it read-only.

`tmpfs(mount_point, size)` mounts a tmpfs of `size` (`64k`...) for the block
it guards; `remount(mount_point, read_only=True)` makes it read-only. Both
need root (`mount` needs CAP_SYS_ADMIN); without it `tmpfs` raises
`MountRefused`, saying why, and a test falls back or skips with that reason.

A mount is always undone, also when its test fails while files on it are
still open (a collector holding its lock file, say): `umount`, and if the
file system is busy, `umount --lazy`, which detaches it at once (the kernel
frees it when the last file on it is closed). The `small_tmpfs` fixture
registers the unmount with a finalizer, through an `ExitStack`, so no
failure of the test or of its other fixtures can skip it.
(tests/conftest.py registers this module as a plugin, for the fixture.)
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["MountRefused", "is_mounted", "remount", "small_tmpfs", "tmpfs", "unmount"]


class MountRefused(Exception):
    """The test cannot mount a file system here (not root, no mount command...)."""


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def is_mounted(mount_point: Path) -> bool:
    """Whether something is mounted at `mount_point` (read from /proc/self/mounts)."""
    target = str(mount_point.resolve())
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts if line.strip())


def unmount(mount_point: Path) -> None:
    """Undo the mount at `mount_point`; lazily when it is busy. Never leaves it mounted."""
    if not is_mounted(mount_point):
        return
    if _run("umount", str(mount_point)).returncode != 0:
        result = _run("umount", "--lazy", str(mount_point))
        if result.returncode != 0:
            raise RuntimeError(f"cannot unmount {mount_point}: {result.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` (mode 0700) for the block; always unmounted."""
    if shutil.which("mount") is None:
        raise MountRefused("no mount command")
    mount_point.mkdir(mode=0o700, exist_ok=True)
    result = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point))
    if result.returncode != 0:
        raise MountRefused(f"mount -t tmpfs refused: {result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        unmount(mount_point)


def remount(mount_point: Path, *, read_only: bool) -> None:
    """Make the mount at `mount_point` read-only (or read-write again)."""
    option = "remount,ro" if read_only else "remount,rw"
    result = _run("mount", "-o", option, str(mount_point))
    if result.returncode != 0:
        raise MountRefused(f"mount -o {option} refused: {result.stderr.strip()}")


@pytest.fixture
def small_tmpfs(tmp_path: Path, request: pytest.FixtureRequest):
    """`(mount point, None)` of a 64 KiB tmpfs, or `(None, why not)` when mounting is refused."""
    stack = contextlib.ExitStack()
    request.addfinalizer(stack.close)  # runs however the test ends
    try:
        mount_point = stack.enter_context(tmpfs(tmp_path / "small", "64k"))
    except MountRefused as exc:
        return None, str(exc)
    return mount_point, None
