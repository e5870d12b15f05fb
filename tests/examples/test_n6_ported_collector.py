"""examples/n6_ported_collector.py: an n6 4.x CSV collector, its imports changed, run as a process.

The first run publishes the feed's CSV rows; rows are then added over HTTP
(`POST /add`); the second run publishes only those, and a third, with nothing
new, publishes nothing and leaves the state file alone. Its config names no
`state_dir`, so the state goes to n6's default one, `~/.n6state`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.collectors.rows import row_digest
from stateful_collectors.state import StateFile
from tests.support import EXAMPLES, clean_env
from tests.support.examples import CollectorExample
from tests.support.processes import CliRun, run_cli

EXAMPLE = CollectorExample(
    "n6_ported_collector.py",
    "DemoFeedItemsCsvCollector",
    "n6_ported_collector.conf",
    "DemoFeedItemsCsvCollector",
    "items-csv",
)
ROUTING_KEY = "demo-feed.items-csv"
STATE_FILE = ".n6state/n6_ported_collector.DemoFeedItemsCsvCollector.pickle"


def csv_line(item: dict) -> str:
    return f"{item['id']},{item['time']},{item['severity']},{item['title']}"


def run_main_function(workdir: Path, env: dict[str, str]) -> CliRun:
    """`DemoFeedItemsCsvCollector_main()`, as an n6-style console script calls it."""
    code = "import sys, n6_ported_collector as m; sys.exit(m.DemoFeedItemsCsvCollector_main())"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code, "--config", "collector.conf"],
        cwd=workdir,
        env={**env, "PYTHONPATH": str(EXAMPLES)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def test_the_second_run_publishes_only_the_new_rows(sink, feed_server, workdir, tmp_path):
    state_home = tmp_path / "home"
    env = clean_env(HOME=str(state_home))
    (workdir / "collector.conf").write_text(sink.config_text(EXAMPLE, feed_server.port))
    state_file = state_home / STATE_FILE
    published = []

    def check_run(result: CliRun, rows: list[dict]) -> None:
        assert result.returncode == 0, result.stderr
        expected = 1 if rows else 0
        summary = result.stderr.strip().splitlines()[-1]
        outcome = (
            f"ok: published {expected} message(s)"
            if expected
            else "ok: nothing new to publish; state unchanged"
        )
        assert summary.startswith(f"DemoFeedItemsCsvCollector: {outcome}"), summary
        messages = sink.take(expected)
        assert len(messages) == expected
        for routing_key, properties, body in messages:
            assert routing_key == ROUTING_KEY
            assert body == "\n".join(csv_line(item) for item in rows).encode()
            assert properties["message_id"] == message_id_for(ROUTING_KEY, body)
            assert properties["type"] == "file"
        if rows:
            assert summary.endswith(f"state saved to {state_file}")
        published.append([item["id"] for item in rows] or "nothing")

    # First run, through the module's entry point function: every row of the file.
    check_run(run_main_function(workdir, env), feed_server.feed.items())
    assert oct(os.stat(state_file.parent).st_mode & 0o777) == "0o700"

    # Three rows appear (through the feed's HTTP API); the second run, through
    # `stateful-collectors run`, publishes them and nothing else.
    request = urllib.request.Request(f"{feed_server.url}/add?count=3", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        added = response.read()
    assert added.count(b'"id"') == 3
    target = f"{EXAMPLES / EXAMPLE.file}:{EXAMPLE.cls}"
    second = run_cli("run", target, "--config", "collector.conf", cwd=workdir, env=env)
    check_run(second, feed_server.feed.items()[5:])
    saved = StateFile(state_file).load(default=dict)
    assert saved == {
        "state_version": 2,
        "state": {
            "newest_row_time": "2026-11-27T20:07:00Z",
            "newest_rows": [row_digest(csv_line(feed_server.feed.items()[-1]))],
            "rows_count": 8,
        },
    }

    # Nothing new: nothing published, the state file untouched.
    before = state_file.read_bytes()
    check_run(run_main_function(workdir, env), [])
    assert state_file.read_bytes() == before
    print(
        f"{EXAMPLE.file} ({sink.name}): {ROUTING_KEY}: "
        + "; ".join(f"run {number}: {ids}" for number, ids in enumerate(published, start=1))
        + f"; state {saved['state']['newest_row_time']}, rows_count {saved['state']['rows_count']}"
    )
