"""The publishing benchmark (benchmarks/publishing.py) as rows of the harness's table.

Bar: `AmqpSink` publishes 10,000 persistent 1 KiB messages with publisher
confirms at least 0.9x as fast as raw pika (`SelectConnection`, asynchronous
confirms), against the same broker in the same run. Without a RabbitMQ
server binary on the machine the row says 'skipped: no broker'.
"""

from __future__ import annotations

from benchmarks.publishing import BAR, broker_missing_reason, run_publishing_benchmark
from benchmarks.results import Row, at_least, format_rate

__all__ = ["publishing_rows"]

WHAT = "publishing {messages:,} x 1 KiB, confirms"


def publishing_rows(url: str | None = None, *, quick: bool = False) -> list[Row]:
    """Run the publishing benchmark (a private broker unless `url`); the table's rows."""
    if url is None:
        reason = broker_missing_reason()
        if reason:
            return [
                Row(
                    WHAT.format(messages=10_000),
                    "-",
                    "-",
                    "",
                    f">= {BAR:.2f}x",
                    "skipped: no broker",
                )
            ]
    result = run_publishing_benchmark(url, quick=quick)
    return [
        at_least(
            f"{WHAT.format(messages=result.messages)}: AmqpSink",
            format_rate(result.sink_rate, "msg/s"),
            f"{format_rate(result.baseline_rate, 'msg/s')} raw pika, async confirms",
            ratio=result.ratio,
            bar=BAR,
            quick=quick,
            chart_label="publishing (time per message)",
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
