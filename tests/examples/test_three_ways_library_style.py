"""examples/three_ways_library_style.py (this library's recommended style), run as a process.

It publishes what the two other versions publish: tests/support/three_ways.py.
"""

from __future__ import annotations

import json

from tests.support.three_ways import THREE_WAYS, check_same_messages

EXAMPLE = THREE_WAYS["library"]


def test_three_runs_publish_the_same_messages_as_the_other_ways(sink, feed_server, workdir):
    assert EXAMPLE.file == "three_ways_library_style.py"
    print(check_same_messages(EXAMPLE, sink, feed_server, workdir))
    # a JSON state, saved once the message was confirmed
    state_file = workdir / "state" / "three_ways_library_style.DemoFeedCollector.json"
    assert json.loads(state_file.read_text()) == {"last_utc": "2026-11-27T20:06:00Z"}
