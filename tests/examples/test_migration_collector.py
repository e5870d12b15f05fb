"""examples/migration_collector.py: a state that changed shape twice, and its old files migrated.

Against the real demo feed, in-process and as a real process. (The library's
side of versions and migrations: tests/unit/test_migrations.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from migration_collector import CountingCollector

from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config
from tests.support import EXAMPLES
from tests.support.processes import run_example

EXAMPLE = EXAMPLES / "migration_collector.py"


def counting_config(feed_server, state_dir: Path) -> str:
    return make_config(
        "counting_collector", state_dir=state_dir, url=f"{feed_server.url}/items.json"
    )


@pytest.mark.parametrize(
    ("old_file", "version"),
    [
        ({"last_utc": "2026-11-27T20:02:00Z"}, 0),
        ({"state_version": 1, "state": {"newest_time": "2026-11-27T20:02:00Z"}}, 1),
    ],
    ids=["from-version-0", "from-version-1"],
)
def test_the_example_migrates_an_old_file_then_saves_version_2(
    feed_server, state_dir, old_file, version
):
    config = counting_config(feed_server, state_dir)
    path = state_dir / "migration_collector.CountingCollector.pickle"
    StateFile(path).save(old_file)

    run = collect(CountingCollector, config)
    assert [item["id"] for item in run.json_bodies()[0]] == [4, 5]  # newer than 20:02
    assert StateFile(path).load(default=dict) == {
        "state_version": 2,
        "state": {"newest_time": "2026-11-27T20:04:00Z", "items_published": 2},
    }


def test_the_example_as_a_real_process(feed_server, state_dir, tmp_path):
    config_file = tmp_path / "migration.conf"
    config_file.write_text(counting_config(feed_server, state_dir))
    outbox = tmp_path / "outbox.jsonl"
    path = state_dir / "migration_collector.CountingCollector.pickle"
    StateFile(path).save({"last_utc": "2026-11-27T20:01:00Z"})  # left by the first release

    first = run_example(EXAMPLE, config_file, outbox)
    assert first.returncode == 0, first.stderr
    feed_server.feed.add(2)
    second = run_example(EXAMPLE, config_file, outbox)
    assert second.returncode == 0, second.stderr
    bodies = [message.body for message in read_outbox(outbox)]
    assert len(bodies) == 2
    assert StateFile(path).load(default=dict) == {
        "state_version": 2,
        "state": {"newest_time": "2026-11-27T20:06:00Z", "items_published": 5},
    }

    # A file from a newer release: one line, exit status 4, the file untouched.
    StateFile(path).save({"state_version": 3, "state": {"newest_time": None}})
    before = path.read_bytes()
    newer = run_example(EXAMPLE, config_file, outbox)
    assert newer.returncode == 4
    assert newer.stderr.count("\n") == 1, newer.stderr  # one line, no traceback
    assert newer.stderr.startswith(
        f"CountingCollector: failed: state file {path} has state version 3, newer than "
        "CountingCollector's 2; run the newer collector version that wrote it; "
    )
    assert "state not saved" in newer.stderr
    assert path.read_bytes() == before
    assert len(read_outbox(outbox)) == 2
