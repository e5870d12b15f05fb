"""examples/quiet_collector.py: MyStatefullCollector, publishing nothing when nothing is new."""

from __future__ import annotations

from tests.support.examples import CollectorExample, check_runs_as_the_guide_says

QUIET_COLLECTOR = CollectorExample(
    "quiet_collector.py",
    "QuietCollector",
    "my_statefull_collector.conf",
    "my_statefull_collector",
    "example-channel",
    quiet=True,
)


def test_runs_as_the_guide_says(sink, feed_server, workdir):
    check_runs_as_the_guide_says(QUIET_COLLECTOR, sink, feed_server, workdir)
