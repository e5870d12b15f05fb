"""A simulated power cut after every step of `save_state`: only what was synced survives.

A SIGKILL (see test_kill_during_save.py) loses only the process: everything it
handed to the kernel still reaches the disk. A power cut also loses what the
kernel had not yet written, and only `fsync` says what was written. This test
replays a save against a model of the disk that keeps exactly what was made
durable, for every point where the power could go.

1. Record. `stateful_collectors.fs._fs`, the one place a save's system calls
   go through, is swapped for a `Recorder` that passes every call to the real OS
   and logs it: the creation of the temporary file, each write with its bytes,
   each fsync (of the file, or of the directory through a descriptor the save
   opened with `os.open`: the recorder asks `/proc/self/fd` which path it is),
   close, replace and unlink.
2. Model. `CrashModel` replays the log on a model of the state dir. Each file
   (inode) has the data written to it and its *durable* data: what it held at
   its last fsync. The directory has its live entries (name -> inode), and its
   durable entries, which catch up with the live ones only when the directory
   itself is fsynced; creating, renaming and unlinking a file are changes of
   the directory, not of the file. The files present before the save count as
   durable. A power cut after operation k leaves:
   - the strict view: the durable entries, each file holding its durable data;
   - the early-metadata views: the same plus the first 1, 2, ... directory
     changes made since the last directory fsync (a file system may write
     metadata ahead of an fsync, in order, as ext4's journal does), each file
     still holding only its durable data.
3. Check. For every crash point (before the first operation and after each)
   every view is written out as a real directory and loaded with the real
   `load_state()`. It must give the old state or the new one, and the new one
   at the crash point after the last operation, where `save_state` had returned.
4. Teeth. The same model, run on a save whose recorder turns the directory's
   fsync into a no-op, must report a violation (after `save_state` returned,
   the old state comes back); run on a save whose recorder drops the file's
   fsync, it must report one too (the renamed file is empty).

Both a first save (no state file yet: "old" is the default state) and a
replacing save are checked.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from stateful_collectors import fs as fs_module
from tests.support.collectors.keeps_state import make_keeps_state

OLD = {"seq": 1, "payload": b"old " * 1000, "seen": {("feed", 1), ("feed", 2)}}
NEW = {"seq": 2, "payload": b"new " * 3000, "seen": {("feed", 3)}}


# ---------------------------------------------------------------- recording


@dataclasses.dataclass(frozen=True)
class Op:
    """One recorded system call of a save."""

    kind: str  # create, write, fsync_file, fsync_dir, close, replace, unlink
    path: Path  # the file or directory concerned; for replace, the source
    fd: int | None = None
    data: bytes = b""
    target: Path | None = None  # the destination of a replace

    def __str__(self) -> str:
        if self.kind == "write":
            return f"write({self.path.name}, {len(self.data)} bytes)"
        if self.kind == "replace":
            return f"replace({self.path.name} -> {self.target.name})"
        return f"{self.kind}({self.path.name})"


class Recorder:
    """Stands in for `fs._fs`: every call goes to the real OS and is logged.

    Args:
        drop_fsync_of: "dir" or "file" to turn that fsync into a no-op (the
            broken saves the model must catch); `None` for the real save.
    """

    def __init__(self, drop_fsync_of: str | None = None) -> None:
        self.drop_fsync_of = drop_fsync_of
        self.ops: list[Op] = []
        self.dropped: list[Path] = []
        self._paths: dict[int, Path] = {}

    def open(self, path, flags, mode=0o777):
        fd = os.open(path, flags, mode)
        assert flags & os.O_CREAT and flags & os.O_EXCL, "a save only creates new files"
        self._paths[fd] = Path(path)
        self.ops.append(Op("create", Path(path), fd))
        return fd

    def write(self, fd, data):
        written = os.write(fd, data)
        self.ops.append(Op("write", self._paths[fd], fd, bytes(data[:written])))
        return written

    def fsync(self, fd):
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        path = self._paths.get(fd) or Path(os.readlink(f"/proc/self/fd/{fd}"))
        if self.drop_fsync_of == ("dir" if is_dir else "file"):
            self.dropped.append(path)
            return
        os.fsync(fd)
        self.ops.append(Op("fsync_dir" if is_dir else "fsync_file", path, fd))

    def close(self, fd):
        os.close(fd)
        self.ops.append(Op("close", self._paths.pop(fd), fd))

    def replace(self, src, dst):
        os.replace(src, dst)
        self.ops.append(Op("replace", Path(src), target=Path(dst)))

    def unlink(self, path):
        os.unlink(path)
        self.ops.append(Op("unlink", Path(path)))


# ---------------------------------------------------------------- the crash model


class CrashModel:
    """One directory as a power cut would leave it: see the module docstring."""

    def __init__(self, directory: Path, files: dict[str, bytes]) -> None:
        self.directory = directory
        self.written: list[bytearray] = []  # by inode number
        self.durable_data: list[bytes] = []
        self.live: dict[str, int] = {}
        for name, content in files.items():
            self.live[name] = self._new_inode(content)
        self.durable = dict(self.live)
        self.pending: list[tuple[str, ...]] = []  # directory changes since its last fsync
        self.open_files: dict[int, list[int]] = {}  # fd -> [inode, offset]

    def _new_inode(self, durable: bytes = b"") -> int:
        self.written.append(bytearray(durable))
        self.durable_data.append(durable)
        return len(self.written) - 1

    def apply(self, op: Op) -> None:
        if op.kind in ("create", "replace", "unlink", "fsync_dir"):
            assert op.path.parent == self.directory or op.path == self.directory, op
        if op.kind == "create":
            assert op.path.name not in self.live
            inode = self._new_inode()
            self.live[op.path.name] = inode
            self.pending.append(("link", op.path.name, inode))
            self.open_files[op.fd] = [inode, 0]
        elif op.kind == "write":
            inode, offset = self.open_files[op.fd]
            self.written[inode][offset : offset + len(op.data)] = op.data
            self.open_files[op.fd][1] = offset + len(op.data)
        elif op.kind == "fsync_file":
            inode = self.open_files[op.fd][0]
            self.durable_data[inode] = bytes(self.written[inode])
        elif op.kind == "fsync_dir":
            self.durable = dict(self.live)
            self.pending.clear()
        elif op.kind == "close":
            del self.open_files[op.fd]
        elif op.kind == "replace":
            self.live[op.target.name] = self.live.pop(op.path.name)
            self.pending.append(("rename", op.path.name, op.target.name))
        elif op.kind == "unlink":
            del self.live[op.path.name]
            self.pending.append(("unlink", op.path.name))
        else:
            raise AssertionError(op)

    def views(self) -> list[tuple[str, dict[str, bytes]]]:
        """What the disk may hold after a power cut now: the strict view, then the early ones."""
        entries = dict(self.durable)
        views = [("strict", self._contents(entries))]
        for count, change in enumerate(self.pending, start=1):
            if change[0] == "link":
                entries[change[1]] = change[2]
            elif change[0] == "rename":
                entries[change[2]] = entries.pop(change[1])
            else:
                del entries[change[1]]
            views.append((f"{count} early directory change(s)", self._contents(entries)))
        return views

    def _contents(self, entries: dict[str, int]) -> dict[str, bytes]:
        return {name: self.durable_data[inode] for name, inode in entries.items()}


# ---------------------------------------------------------------- the check


@dataclasses.dataclass
class PowerCutResult:
    ops: list[Op]
    crash_points: int = 0
    views: int = 0
    old: int = 0
    new: int = 0
    violations: list[str] = dataclasses.field(default_factory=list)


def load_view(files: dict[str, bytes], directory: Path) -> Any:
    """Write `files` into a new real directory and load the state there with `load_state()`."""
    directory.mkdir(mode=0o700)
    for name, content in files.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
    collector = make_keeps_state(directory)
    try:
        return collector.load_state()
    finally:
        collector.close()


def check_power_cuts(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, first_save: bool, drop_fsync_of=None
) -> PowerCutResult:
    """Record one real save of NEW, then load every crash point's every view."""
    live_dir = root / "live"
    live_dir.mkdir(mode=0o700)
    collector = make_keeps_state(live_dir)
    old = collector.make_default_state() if first_save else OLD
    assert collector.load_state() == collector.make_default_state()  # takes the lock
    if not first_save:
        collector.save_state(OLD)
    before = {path.name: path.read_bytes() for path in live_dir.iterdir()}

    recorder = Recorder(drop_fsync_of)
    with monkeypatch.context() as patch:
        patch.setattr(fs_module, "_fs", recorder)
        collector.save_state(NEW)
    collector.close()
    if drop_fsync_of is not None:
        assert recorder.dropped, f"no {drop_fsync_of} fsync was there to drop"

    result = PowerCutResult(recorder.ops)
    model = CrashModel(live_dir, before)
    for point in range(len(recorder.ops) + 1):
        if point:
            model.apply(recorder.ops[point - 1])
        returned = point == len(recorder.ops)
        after = str(recorder.ops[point - 1]) if point else "before the first operation"
        result.crash_points += 1
        for view_name, files in model.views():
            result.views += 1
            where = f"power cut after {after} ({view_name})"
            try:
                loaded = load_view(files, root / f"cut-{result.views}")
            except Exception as exc:  # an error is a violation, whatever it is
                result.violations.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            if loaded == NEW:
                result.new += 1
            elif loaded == old and not returned:
                result.old += 1
            elif loaded == old:
                result.violations.append(f"{where}: the old state, after save_state returned")
            else:
                result.violations.append(f"{where}: neither the old nor the new state")
    return result


def test_every_power_cut_during_save_state_leaves_old_or_new(
    tmp_path, monkeypatch, caplog, summary
):
    caplog.set_level(logging.ERROR, logger="stateful_collectors")  # no "not found" per view
    results = {}
    for first_save in (True, False):
        for variant in (None, "dir", "file"):
            root = tmp_path / f"first={first_save}-drop={variant}"
            root.mkdir()
            results[first_save, variant] = check_power_cuts(
                root, monkeypatch, first_save=first_save, drop_fsync_of=variant
            )

    real = [results[True, None], results[False, None]]
    without_dir_fsync = [results[True, "dir"], results[False, "dir"]]
    without_file_fsync = [results[True, "file"], results[False, "file"]]
    count = lambda group, field: sum(getattr(r, field) for r in group)  # noqa: E731
    violations = lambda group: [v for r in group for v in r.violations]  # noqa: E731
    summary(
        f"ops recorded: {sum(len(r.ops) for r in real)}, "
        f"crash points: {count(real, 'crash_points')}, views loaded: {count(real, 'views')}, "
        f"old: {count(real, 'old')}, new: {count(real, 'new')}, "
        f"violations: {len(violations(real))}; "
        f"without the directory fsync: {len(violations(without_dir_fsync))} violation(s); "
        f"without the file fsync: {len(violations(without_file_fsync))} violation(s)"
    )

    # the recorder saw the whole durable-replace sequence of the real save
    for result in real:
        kinds = [op.kind for op in result.ops]
        assert kinds[0] == "create" and set(kinds[1:-4]) == {"write"}, kinds
        assert kinds[-4:] == ["fsync_file", "close", "replace", "fsync_dir"], kinds
    assert violations(real) == []
    assert count(real, "old") > 0 and count(real, "new") > 0

    # teeth: the model catches a save without the directory fsync, and one without the file's
    for result in without_dir_fsync:
        assert any("the old state, after save_state returned" in v for v in result.violations), (
            result.violations
        )
    for result in without_file_fsync:
        assert any("StateFileError" in v and "is empty" in v for v in result.violations), (
            result.violations
        )
