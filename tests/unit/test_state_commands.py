"""`stateful-collectors state ...`: input it cannot take, big states, and what it leaves on disk.

Every case runs the command as a real process. Whatever `state set`, `show`
or `reset` cannot take ends with status 2 (the input) or 4 (the state on
disk), one line ending in "nothing was changed", and the state dir exactly as
it was. `state show` stays small and quick on any state, summarising past a
limit; `state show` and `state path` create nothing on disk.
"""

from __future__ import annotations

import os
import pickle
import resource
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stateful_collectors.command.state_view import parse_state
from tests.support import ROOT, clean_env

TARGET = "tests.support.collectors.cli:Counter"
STATE_NAME = "tests.support.collectors.cli.Counter.pickle"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.state_dir = tmp_path / "state"
        self.state_file = self.state_dir / STATE_NAME
        self.config = tmp_path / "counter.conf"
        self.config.write_text(
            f"[counter]\nstate_dir = {self.state_dir}\n[outbox]\npath = {tmp_path}/o.jsonl\n"
        )

    def run(self, *args: str, stdin: str | bytes | None = None, closed_stdin: bool = False):
        command = [sys.executable, "-m", "stateful_collectors", "state", *args]
        command[5:5] = [TARGET, "--config", str(self.config)]
        started = time.monotonic()
        if closed_stdin:  # the shell's `<&-`: no file descriptor 0 at all
            command = ["sh", "-c", 'exec "$@" <&-', "sh", *command]
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=clean_env(),
            input=stdin.encode() if isinstance(stdin, str) else stdin,
            capture_output=True,
            timeout=300,
        )
        return result, time.monotonic() - started

    def save(self, state) -> bytes:
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        self.state_file.write_bytes(pickle.dumps(state, protocol=5))
        os.chmod(self.state_file, 0o600)
        return self.state_file.read_bytes()

    def snapshot(self) -> dict:
        """Every file, its bytes, mtime and mode; the lock file (whose line names each command
        that takes the lock) and the state dir's mtime (its creation changes it) left out."""
        found = {}
        for path in sorted(self.tmp_path.rglob("*")):
            if path.name.endswith(".lock"):
                continue
            info = path.lstat()
            data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
            mtime = None if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns
            found[str(path.relative_to(self.tmp_path))] = (data, mtime, info.st_mode)
        return found


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("{runs: 1}", "is not a state: not valid JSON (Expecting property", id="odd"),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep", id="deep"),
        pytest.param("[" * 40 + "]" * 40, "nested more than 32 levels deep", id="40 levels"),
        pytest.param("1" * 5000, "not usable JSON (Exceeds the limit (4300 digits)", id="huge int"),
        pytest.param('{"$timedelta": 1e300}', "$timedelta: ", id="overflow"),
        pytest.param('{"$truncated": "x"}', "marks what 'state show' left out", id="truncated"),
        pytest.param('{"a": 1, "$truncated": "2 more"}', "marks what", id="truncated key"),
    ],
)
def test_state_set_refuses_what_it_cannot_take_and_changes_nothing(world, value, expected):
    world.save({"runs": 1})
    before = world.snapshot()
    result, _ = world.run("set", "-", stdin=value)
    line = one_line(result.stderr)
    assert result.returncode == 2, line
    assert expected in line and line.endswith("nothing was changed"), line
    assert world.snapshot() == before
    assert not (world.state_dir / f"{STATE_NAME}.lock").exists()  # bad input takes no lock


def test_state_set_from_a_closed_stdin(world):
    world.save({"runs": 1})
    before = world.snapshot()
    result, _ = world.run("set", "-", closed_stdin=True)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "stateful-collectors state: stdin is closed, so there is no state to read; nothing was "
        "changed"
    )
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        pytest.param(
            b"\xff\xfe{}", "stdin is not UTF-8 text (byte 0); nothing was changed", id="bytes"
        ),
        pytest.param(
            b"",
            "stdin is not a state: not valid JSON (Expecting value at line 1, "
            "column 1); nothing was changed",
            id="empty",
        ),
    ],
)
def test_state_set_from_stdin_it_cannot_read(world, stdin, expected):
    world.save({"runs": 1})
    before = world.snapshot()
    result, _ = world.run("set", "-", stdin=stdin)
    assert result.returncode == 2
    assert one_line(result.stderr) == f"stateful-collectors state: {expected}"
    assert world.snapshot() == before


@pytest.mark.parametrize("action", [["show"], ["set", '{"runs": 5}'], ["reset", "--yes"]])
def test_a_directory_in_place_of_the_state_file_is_exit_4_and_nothing_changes(world, action):
    world.state_dir.mkdir(mode=0o700)
    world.state_file.mkdir(mode=0o700)
    before = world.snapshot()
    result, _ = world.run(*action)
    line = one_line(result.stderr)
    assert result.returncode == 4, line
    assert line == (
        f"stateful-collectors state: state file {world.state_file} is not a regular file; move "
        "it away so the collector can write its own; nothing was changed"
    )
    assert world.snapshot() == before


def test_state_show_and_path_create_nothing(world):
    before = world.snapshot()
    shown, _ = world.run("show")
    path, _ = world.run("path")
    assert shown.returncode == 0 and shown.stdout == b'{"runs": 0}\n'
    assert path.returncode == 0 and path.stdout.decode() == f"{world.state_file}\n"
    assert world.snapshot() == before
    assert not world.state_dir.exists()


def exponential_state() -> list:
    """A small pickle whose shared references unfold into 2**60 leaves."""
    node: list = ["leaf"]
    for _ in range(60):
        node = [node, node]
    return node


def test_state_show_summarises_a_state_that_would_unfold_exponentially(world, summary):
    world.save({"runs": 1, "tree": exponential_state()})
    result, seconds = world.run("show")
    assert result.returncode == 0
    assert len(result.stdout) < 2_000_000
    assert seconds < 60
    assert '"$truncated"' in result.stdout.decode()
    assert one_line(result.stderr).startswith(f"# the state in {world.state_file} is too big")
    summary(
        f"state show of a 2**60-leaf shared tree: {len(result.stdout)} bytes shown in "
        f"{seconds:.2f} s, summarised"
    )


@pytest.mark.slow
def test_state_show_of_a_200_mb_state_is_bounded(world, summary):
    blob = "x" * (140 << 20)
    world.save(
        {"runs": 1, "blob": blob, "items": list(range(2_000_000)), "raw": b"\xff" * (50 << 20)}
    )
    del blob
    size = world.state_file.stat().st_size
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result, seconds = world.run("show")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    shown = result.stdout.decode()
    summary(
        f"state show of a {size / 1e6:.0f} MB state: {len(shown)} bytes shown in {seconds:.1f} s, "
        f"peak memory {peak_kib / 1024:.0f} MiB"
    )
    assert result.returncode == 0, result.stderr
    assert size > 150e6
    assert len(shown) < 2_000_000
    assert seconds < 120
    assert peak_kib >= before and peak_kib * 1024 < 4 * size  # the state, and little more
    assert "a string of 146800640 characters" in shown
    assert "52428800 bytes" in shown
    with pytest.raises(ValueError, match="left out"):
        parse_state(shown)  # a summary is not a state: state set refuses it


def test_reset_with_a_closed_stdin_does_not_reset(world):
    world.save({"runs": 3})
    before = world.snapshot()
    result, _ = world.run("reset", closed_stdin=True)
    assert result.returncode == 1
    assert "not reset; the state file is unchanged" in result.stderr.decode()
    assert world.snapshot() == before
