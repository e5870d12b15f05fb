"""examples/first_collector.py: no state, so every run publishes the whole feed again."""

from __future__ import annotations

from tests.support.examples import CollectorExample, check_runs_as_the_guide_says

FIRST_COLLECTOR = CollectorExample(
    "first_collector.py",
    "FirstCollector",
    "first_collector.conf",
    "first_collector",
    "items",
    stateful=False,
)


def test_runs_as_the_guide_says(sink, feed_server, workdir):
    check_runs_as_the_guide_says(FIRST_COLLECTOR, sink, feed_server, workdir)
