"""The publishing benchmark's quick mode runs against the session broker, so it never rots.

Only that it runs and gives sane figures is checked here; speed is the
benchmark's business (`uv run python -m benchmarks.publishing`), not a test's.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks.publishing import format_result, run_publishing_benchmark
from tests.support import ROOT, clean_env

pytestmark = pytest.mark.broker


def test_quick_run_returns_structured_results(broker):
    result = run_publishing_benchmark(broker.url, quick=True)

    assert (result.messages, result.small_messages, result.rounds) == (1_000, 100, 1)
    assert result.body_size == 1024
    for rates in (result.sink_rates, result.baseline_rates, result.blocking_rates):
        assert len(rates) == 1
        assert 10 < rates[0] < 10_000_000  # messages per second, within reason
    for peaks in (result.sink_peak_rss, result.sink_small_peak_rss, result.baseline_peak_rss):
        assert len(peaks) == 1
        assert 10 << 20 < peaks[0] < 2 << 30  # a Python process with pika: 10 MiB to 2 GiB
    assert result.ratio == result.sink_rate / result.baseline_rate
    assert result.memory_ratio == result.sink_peak_rss[0] / result.sink_small_peak_rss[0]
    assert "not judged (--quick)" in format_result(result)
    leftovers = broker.ctl("list_queues", "name") + broker.ctl("list_exchanges", "name")
    assert "bench-" not in leftovers


def test_quick_command_prints_the_report(broker):
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.publishing", "--quick", "--url", broker.url],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    rates = dict(re.findall(r"^  (AmqpSink|raw pika)\b.*?([\d,]+) msg/s$", completed.stdout, re.M))
    assert set(rates) == {"AmqpSink", "raw pika"}, completed.stdout
    assert all(int(rate.replace(",", "")) > 0 for rate in rates.values())
    assert re.search(r"ratio AmqpSink / baseline\s+\d+\.\d\d", completed.stdout)
    assert re.search(r"AmqpSink peak memory, 1,000 messages\s+\d+\.\d MiB", completed.stdout)
