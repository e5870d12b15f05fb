"""examples/three_ways_page_style.py (n6's original page's style), run as a process.

It publishes what the two other versions publish: tests/support/three_ways.py.
"""

from __future__ import annotations

from tests.support.examples import saved_state
from tests.support.three_ways import THREE_WAYS, check_same_messages

EXAMPLE = THREE_WAYS["page"]


def test_three_runs_publish_the_same_messages_as_the_other_ways(sink, feed_server, workdir):
    assert EXAMPLE.file == "three_ways_page_style.py"
    print(check_same_messages(EXAMPLE, sink, feed_server, workdir))
    # run() saves after every run, the run that found nothing new too
    assert saved_state(workdir, EXAMPLE) == {"last_utc": "2026-11-27T20:06:00Z"}
