"""The guide's CheckpointCollector, with the process id in each message's headers.

Run by tests/reliability/test_checkpoint_kills.py as a real process (`python -m
tests.support.collectors.checkpoint_kill --config FILE`, from the repository root
with examples/ on PYTHONPATH) and killed at random points. The
`pid` header tells the test which run delivered each message, so it can count the
items every run re-published. pika is imported up front (the sink imports it only
when it connects, after the fetch) so that the time after the fetch, where most
kills land, is spent connecting and publishing rather than importing.
"""

import os
import sys

import pika  # noqa: F401 - imported before the fetch, so the kills after it hit publishing
from checkpoint_collector import CheckpointCollector


class KillTargetCollector(CheckpointCollector):
    def get_output_prop_kwargs(self, **kwargs):
        properties = super().get_output_prop_kwargs(**kwargs)
        properties["headers"] = {"pid": os.getpid()}
        return properties


if __name__ == "__main__":
    sys.exit(KillTargetCollector.cli_main())
