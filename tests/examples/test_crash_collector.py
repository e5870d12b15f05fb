"""examples/crash_collector.py, the crash guide's collector, killed at each of its crash points.

Each point is run as on the "Surviving crashes" page: a real process of
`stateful-collectors run`, against a real demo feed, publishing to an outbox.
After a SIGKILL before `save_state()` the state file must be byte-identical to
what the previous run saved; after one following it, it must hold the new state.
The next, normal, run must publish what the killed run did not get confirmed,
and repeat (with the same message id) what it did.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stateful_collectors.demo import DemoFeed
from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from tests.support import EXAMPLES, clean_env

EXAMPLE = EXAMPLES / "crash_collector.py"

# point -> (does the killed run's message reach the outbox?, is the state saved?)
EXPECTED = {
    "before-download": (False, False),
    "after-download": (False, False),
    "before-confirm": (False, False),
    "before-save": (True, False),
    "after-save": (True, True),
}


def run(workdir: Path, crash_at: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stateful_collectors", "run", f"{EXAMPLE}:CrashingCollector"]
        + ["--config", "collector.conf"],
        cwd=workdir,
        env=clean_env(CRASH_AT=crash_at),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ids(messages) -> list[list[int]]:
    return [[item["id"] for item in json.loads(message.body)] for message in messages]


@pytest.mark.parametrize("point", list(EXPECTED))
def test_a_kill_at_each_point_loses_nothing(point, tmp_path):
    reaches_outbox, saves_state = EXPECTED[point]
    feed = DemoFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        (tmp_path / "collector.conf").write_text(
            f"[my_statefull_collector]\nstate_dir = state\nurl = {server.url}/items.json\n"
            "[outbox]\npath = outbox.jsonl\n"
        )
        state_path = tmp_path / "state" / "crash_collector.CrashingCollector.pickle"
        first = run(tmp_path)
        assert first.returncode == 0, first.stderr
        saved = state_path.read_bytes()
        feed.add(2)

        killed = run(tmp_path, crash_at=point)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert "Traceback" not in killed.stderr
        after_kill = read_outbox(tmp_path / "outbox.jsonl")
        assert ids(after_kill) == [[1, 2, 3]] + ([[4, 5]] if reaches_outbox else [])
        state = StateFile(state_path).load(default=dict)
        if saves_state:
            assert state == {"last_utc": "2026-11-27T20:04:00Z"}
        else:
            assert state_path.read_bytes() == saved  # byte for byte what the first run saved

        again = run(tmp_path)
        assert again.returncode == 0, again.stderr
        messages = read_outbox(tmp_path / "outbox.jsonl")
        published = messages[len(after_kill) :]
        assert ids(published) == ([[]] if saves_state else [[4, 5]])
        if reaches_outbox and not saves_state:  # the one certain repeat: the same message id
            assert published[0].body == after_kill[-1].body
            assert published[0].properties["message_id"] == after_kill[-1].properties["message_id"]
        assert StateFile(state_path).load(default=dict) == {"last_utc": "2026-11-27T20:04:00Z"}


def test_an_unknown_crash_point_is_one_clear_error(tmp_path):
    (tmp_path / "collector.conf").write_text(
        "[my_statefull_collector]\nstate_dir = state\nurl = http://127.0.0.1:9/items.json\n"
        "[outbox]\npath = outbox.jsonl\n"
    )
    result = run(tmp_path, crash_at="sometime")
    assert result.returncode == 1
    assert "CRASH_AT='sometime'; use one of: before-download, after-download" in result.stderr
    assert not (tmp_path / "outbox.jsonl").exists() or not read_outbox(tmp_path / "outbox.jsonl")
