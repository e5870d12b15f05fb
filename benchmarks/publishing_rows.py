"""The publishing benchmark (benchmarks/publishing.py) as rows of the harness's table.

Bars: `AmqpSink` publishes 100,000 persistent 1 KiB messages with publisher
confirms at least 1.0x as fast as raw pika (`SelectConnection`, asynchronous
confirms), against the same broker in the same run; and its peak memory
publishing 100,000 messages is at most 1.2x its peak memory publishing
10,000. Without a RabbitMQ server binary on the machine the rows say
'skipped: no broker'.
"""

from __future__ import annotations

import statistics

from benchmarks.publishing import (
    MEMORY_BAR,
    RATE_BAR,
    broker_missing_reason,
    run_publishing_benchmark,
)
from benchmarks.results import Row, at_least, at_most, format_rate

__all__ = ["publishing_rows"]

SPEED = "publishing {messages:,} x 1 KiB, confirms"
MEMORY = "publishing: peak memory, {messages:,} vs {small:,} messages"


def _mib(size: float) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def publishing_rows(url: str | None = None, *, quick: bool = False) -> list[Row]:
    """Run the publishing benchmark (a private broker unless `url`); the table's rows."""
    if url is None:
        reason = broker_missing_reason()
        if reason:
            skipped = "skipped: no broker"
            return [
                Row(SPEED.format(messages=100_000), "-", "-", "", f">= {RATE_BAR:.2f}x", skipped),
                Row(
                    MEMORY.format(messages=100_000, small=10_000),
                    "-",
                    "-",
                    "",
                    f"<= {MEMORY_BAR:.2f}x",
                    skipped,
                ),
            ]
    result = run_publishing_benchmark(url, quick=quick)
    sink_peak = statistics.median(result.sink_peak_rss)
    return [
        at_least(
            f"{SPEED.format(messages=result.messages)}: AmqpSink",
            format_rate(result.sink_rate, "msg/s"),
            f"{format_rate(result.baseline_rate, 'msg/s')} raw pika, async confirms",
            ratio=result.ratio,
            bar=RATE_BAR,
            quick=quick,
            chart_label="publishing (time per message)",
        ),
        at_most(
            MEMORY.format(messages=result.messages, small=result.small_messages),
            f"{_mib(sink_peak)} ({result.messages:,})",
            f"{_mib(statistics.median(result.sink_small_peak_rss))} ({result.small_messages:,})",
            ratio=result.memory_ratio,
            bar=MEMORY_BAR,
            quick=quick,
            chart_label="publishing (peak memory)",
        ),
        Row(
            f"publishing: raw pika's peak memory, {result.messages:,} messages",
            _mib(sink_peak),
            f"{_mib(statistics.median(result.baseline_peak_rss))} raw pika",
            f"{sink_peak / statistics.median(result.baseline_peak_rss):.2f}x",
            "",
            "context",
        ),
        Row(
            f"publishing {result.blocking_messages:,} x 1 KiB: vs confirm-each (context)",
            format_rate(result.sink_rate, "msg/s"),
            f"{format_rate(result.blocking_rate, 'msg/s')} BlockingConnection",
            f"{result.sink_rate / result.blocking_rate:.1f}x",
            "",
            "context",
        ),
    ]
