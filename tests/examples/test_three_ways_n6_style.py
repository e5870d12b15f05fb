"""examples/three_ways_n6_style.py (n6 4.x's style), run as a process, and its entry point.

It publishes what the two other versions publish: tests/support/three_ways.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support import EXAMPLES, clean_env
from tests.support.examples import CollectorExample, OutboxSink, saved_state
from tests.support.processes import CliRun
from tests.support.three_ways import THREE_WAYS, check_same_messages

EXAMPLE = THREE_WAYS["n6"]


def test_three_runs_publish_the_same_messages_as_the_other_ways(sink, feed_server, workdir):
    assert EXAMPLE.file == "three_ways_n6_style.py"
    print(check_same_messages(EXAMPLE, sink, feed_server, workdir))
    # saved in after_completed_publishing(): not by the run that found nothing new
    assert saved_state(workdir, EXAMPLE) == {"last_utc": "2026-11-27T20:06:00Z"}


def run_entry_point(example: CollectorExample, workdir: Path) -> CliRun:
    """`DemoFeedCollector_main()`, which a console script would call, in a process of its own."""
    code = "import sys, three_ways_n6_style as m; sys.exit(m.DemoFeedCollector_main())"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code, "--config", "collector.conf"],
        cwd=workdir,
        env=clean_env(PYTHONPATH=str(EXAMPLES)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def test_its_entry_point_function_runs_it_the_same_way(feed_server, workdir):
    summary = check_same_messages(
        EXAMPLE, OutboxSink(workdir), feed_server, workdir, run=run_entry_point
    )
    print(f"DemoFeedCollector_main(): {summary}")
