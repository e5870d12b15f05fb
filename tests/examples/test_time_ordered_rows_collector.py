"""examples/time_ordered_rows_collector.py, run as a real process against the demo feed's CSV.

(What `BaseTimeOrderedRowsCollector` does with rows, with this example's class
as its subject: tests/unit/test_rows.py.)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from stateful_collectors.testing import make_config
from tests.support import EXAMPLES
from tests.support.processes import run_example

EXAMPLE = EXAMPLES / "time_ordered_rows_collector.py"


def config_for(url: str, state_dir: Path) -> str:
    return make_config("demo_csv_collector", state_dir=state_dir, url=url)


def test_the_example_runs_twice_as_a_real_process(feed_server, state_dir, tmp_path):
    config_file = tmp_path / "demo-csv.conf"
    config_file.write_text(config_for(f"{feed_server.url}/items.csv", state_dir))
    outbox = tmp_path / "outbox.jsonl"

    first = run_example(EXAMPLE, config_file, outbox)
    assert first.returncode == 0, first.stderr
    state_file = state_dir / "time_ordered_rows_collector.DemoCsvCollector.pickle"
    assert first.stderr.splitlines() == [
        f"WARNING stateful_collectors.state: state file {state_file} not found; "
        "starting from the default state",
        f"DemoCsvCollector: ok: published 1 message(s) to outbox {outbox}; "
        f"state saved to {state_file}",
    ]
    feed_server.feed.add(2)
    second = run_example(EXAMPLE, config_file, outbox)
    assert second.returncode == 0, second.stderr

    messages = read_outbox(outbox)
    assert [len(m.body.decode().splitlines()) - 1 for m in messages] == [5, 2]
    rows = [row for m in messages for row in csv.DictReader(io.StringIO(m.body.decode()))]
    assert [int(row["id"]) for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert StateFile(state_file).load(default=dict) == {
        "state_version": 2,
        "state": {"newest_row_time": "2026-11-27T20:06:00Z", "newest_rows": [7], "rows_count": 3},
    }
    state_bytes = state_file.read_bytes()

    nothing_new = run_example(EXAMPLE, config_file, outbox)
    assert nothing_new.returncode == 0, nothing_new.stderr
    assert nothing_new.stderr.splitlines() == [
        f"DemoCsvCollector: ok: nothing new to publish; state unchanged in {state_file}"
    ]
    assert state_file.read_bytes() == state_bytes

    feed_server.close()
    failed = run_example(EXAMPLE, config_file, outbox)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1, failed.stderr  # one line, no traceback
    assert "Connection refused" in failed.stderr
    assert "state not saved" in failed.stderr
    assert len(read_outbox(outbox)) == 2
