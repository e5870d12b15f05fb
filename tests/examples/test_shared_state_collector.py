"""examples/shared_state_collector.py: the complete example, its state in a real PostgreSQL.

Run twice as a real process, as the guide runs it, on two "hosts" (the same
config file with another `identity`), against a real demo feed: the second run
picks up where the first left off, from the row the first one saved.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from stateful_collectors.sinks.outbox import read_outbox
from tests.support import EXAMPLES
from tests.support.processes import run_cli

pytestmark = pytest.mark.postgresql

TARGET = "shared_state_collector:SharedStateCollector"
KEY = "shared_state_collector.SharedStateCollector.json"


def test_a_second_host_carries_on_where_the_first_stopped(
    postgresql, pg_dsn, feed_server, tmp_path
):
    for name in ("shared_state_collector.py", "my_statefull_collector.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    text = (EXAMPLES / "shared_state_collector.conf").read_text()
    assert "dsn = postgresql://collector@127.0.0.1:5432/collectors\n" in text
    text = text.replace("postgresql://collector@127.0.0.1:5432/collectors", pg_dsn)
    text = text.replace("127.0.0.1:8808", f"127.0.0.1:{feed_server.port}")
    (tmp_path / "host-a.conf").write_text(text)
    (tmp_path / "host-b.conf").write_text(text.replace("identity = host-a", "identity = host-b"))

    first = run_cli("run", TARGET, "--config", "host-a.conf", cwd=tmp_path)
    feed_server.feed.add(2)
    second = run_cli("run", TARGET, "--config", "host-b.conf", cwd=tmp_path)

    location = f"{pg_dsn}, table collector_state, key {KEY}"
    assert first.returncode == 0, first.stderr
    assert first.stderr_lines[-1] == (
        f"SharedStateCollector: ok: published 1 message(s) to outbox outbox.jsonl; "
        f"state saved to {location}"
    )
    assert second.returncode == 0, second.stderr
    assert second.stderr == (
        f"SharedStateCollector: ok: published 1 message(s) to outbox outbox.jsonl; "
        f"state saved to {location}\n"
    )
    bodies = [json.loads(message.body) for message in read_outbox(tmp_path / "outbox.jsonl")]
    assert [[item["id"] for item in body] for body in bodies] == [[1, 2, 3, 4, 5], [6, 7]]
    ((data, version, saved_by),) = postgresql.execute(
        pg_dsn, "SELECT data, version, saved_by FROM collector_state WHERE key = %s", [KEY]
    )
    assert json.loads(bytes(data)) == {"last_utc": feed_server.feed.items()[-1]["time"]}
    assert version == 2 and re.fullmatch(r"pid \d+ on host-b", saved_by), saved_by
    assert not (tmp_path / "state").exists()  # state_dir is not used
