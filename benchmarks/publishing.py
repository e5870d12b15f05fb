"""Publishing at scale: `AmqpSink` against raw pika, in speed and in memory.

Publishes the same persistent 1 KiB messages (publisher confirms, `mandatory`,
a durable queue bound to the exchange, so the broker writes them to disk)
against one broker, each contender in a process of its own
(`benchmarks/publish_once.py`, which reports its rate and peak memory):

* speed: 100,000 messages through `AmqpSink`, the way a collector's
  `publish_output()` does, against the baseline, a raw pika
  `SelectConnection` that publishes everything and counts the broker's acks;
  the bar is `AmqpSink` >= 1.0x the baseline's rate;
* memory: `AmqpSink`'s peak resident memory publishing 100,000 messages
  against the same at 10,000: the bar is <= 1.2x (what it holds must not grow
  with the number of messages of a run);
* for context, the baseline's own peak memory at 100,000 (it hands pika
  every frame at once), and a pika `BlockingConnection` waiting for each
  message's confirm before the next (fewer messages: it is slow).

Rounds alternate the order of sink and baseline; the ratios are the medians
of the rounds' own ratios.

Run it (a private broker is started when no `--url` is given):

    uv run python -m benchmarks.publishing            # 100,000 messages, 3 rounds
    uv run python -m benchmarks.publishing --quick    # 1,000 messages, 1 round
    uv run python -m benchmarks.publishing --url amqp://guest:guest@127.0.0.1:5672/%2F

From Python: `run_publishing_benchmark(url=None, quick=False)` returns a
`PublishingResult`; `format_result()` renders it as the command prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.measure import BenchmarkError, paired_ratio

RATE_BAR = 1.0
"""AmqpSink's rate must be at least this fraction of the raw async-confirm baseline's."""
MEMORY_BAR = 1.2
"""AmqpSink's peak memory at `messages` may be at most this many times that at `small_messages`."""

__all__ = [
    "MEMORY_BAR",
    "RATE_BAR",
    "PublishingResult",
    "broker_missing_reason",
    "format_result",
    "main",
    "run_publishing_benchmark",
]


@dataclasses.dataclass
class PublishingResult:
    """Rates in messages per second, memory in bytes; per-round lists and their medians."""

    messages: int
    """Messages per round for the sink and the baseline."""
    small_messages: int
    """Messages of the sink's smaller run, whose peak memory is the memory bar's baseline."""
    blocking_messages: int
    """Messages per round for the blocking confirm-each loop."""
    body_size: int
    rounds: int
    sink_rates: list[float]
    baseline_rates: list[float]
    blocking_rates: list[float]
    sink_peak_rss: list[int]
    """The sink's peak memory publishing `messages`, per round."""
    sink_small_peak_rss: list[int]
    """The sink's peak memory publishing `small_messages`, per round."""
    baseline_peak_rss: list[int]
    broker: str
    """Where it ran: 'private broker', or host:port of the broker given."""
    quick: bool = False
    """A smoke run: too short to judge the bars."""

    @property
    def sink_rate(self) -> float:
        """Median rate through `AmqpSink`."""
        return statistics.median(self.sink_rates)

    @property
    def baseline_rate(self) -> float:
        """Median rate of raw pika `SelectConnection` with asynchronous confirms."""
        return statistics.median(self.baseline_rates)

    @property
    def blocking_rate(self) -> float:
        """Median rate of pika `BlockingConnection` confirming each message in turn."""
        return statistics.median(self.blocking_rates)

    @property
    def ratio(self) -> float:
        """The median of the rounds' `sink rate / baseline rate`; the bar is `RATE_BAR`."""
        return paired_ratio(self.sink_rates, self.baseline_rates)

    @property
    def memory_ratio(self) -> float:
        """The median of the rounds' peak memory at `messages` / at `small_messages`."""
        return paired_ratio(self.sink_peak_rss, self.sink_small_peak_rss)

    @property
    def passed(self) -> bool:
        """Whether both bars are met."""
        return self.ratio >= RATE_BAR and self.memory_ratio <= MEMORY_BAR


def broker_missing_reason() -> str | None:
    """Why no private broker can be started here (`None`: it can)."""
    return _broker_support().broker_missing_reason()


def _broker_support():
    """The tests' broker helpers (the benchmarks run from the repository root, like the tests).

    Imported on use: they need pytest and pytest-rabbitmq, which a run given
    `--url` does not.
    """
    from tests.support import broker

    return broker


def publish_in_process(
    kind: str, url: str, bench: tuple[str, str, str], count: int, size: int
) -> tuple[float, int]:
    """Run one contender in its own process; return its rate (msg/s) and peak memory (bytes)."""
    exchange, queue, routing_key = bench
    _purge(url, queue)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.publish_once",
            kind,
            url,
            exchange,
            routing_key,
            str(count),
            str(size),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"publishing with {kind} failed: {last}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(report["rate"]), int(report["peak_rss"])


# ---------------------------------------------------------------- the broker


@contextlib.contextmanager
def _broker_url(url: str | None) -> Iterator[tuple[str, str]]:
    if url:
        import pika

        parameters = pika.URLParameters(url)
        yield url, f"{parameters.host}:{parameters.port}"
        return
    with tempfile.TemporaryDirectory(prefix="bench-rabbitmq-") as directory:
        with _broker_support().local_broker(Path(directory)) as broker:
            yield broker.url, "private broker"


@contextlib.contextmanager
def _bench_queue(url: str) -> Iterator[tuple[str, str, str]]:
    """A unique durable exchange and a durable queue bound to it; deleted afterwards."""
    import pika

    tag = secrets.token_hex(4)
    exchange, queue, routing_key = f"bench-{tag}", f"bench-{tag}", f"bench.{tag}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, exchange, routing_key)
        yield exchange, queue, routing_key
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def _purge(url: str, queue: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_purge(queue)
    finally:
        connection.close()


# ---------------------------------------------------------------- the run


def run_publishing_benchmark(
    url: str | None = None,
    *,
    quick: bool = False,
    messages: int | None = None,
    small_messages: int | None = None,
    rounds: int | None = None,
    blocking_messages: int | None = None,
    body_size: int = 1024,
) -> PublishingResult:
    """Run the benchmark and return its figures (see the module docstring).

    Args:
        url: an AMQP URL of the broker to use; `None` starts a private one.
        quick: a smoke run (1,000 and 100 messages, 1 round, 100 for the blocking loop).
        messages: messages per round for the sink and the baseline (default 100,000).
        small_messages: messages of the sink's smaller run for the memory bar (default 10,000).
        rounds: rounds (default 3); the order of sink and baseline alternates.
        blocking_messages: messages per round for the blocking loop (default 2,000).
        body_size: bytes per message body.
    """
    messages = messages or (1_000 if quick else 100_000)
    small_messages = small_messages or (100 if quick else 10_000)
    rounds = rounds or (1 if quick else 3)
    blocking_messages = blocking_messages or (100 if quick else 2_000)
    result = PublishingResult(
        messages, small_messages, blocking_messages, body_size, rounds,
        [], [], [], [], [], [], broker="", quick=quick,
    )  # fmt: skip
    with _broker_url(url) as (broker_url, where), _bench_queue(broker_url) as bench:
        result.broker = where
        publish_in_process("sink", broker_url, bench, min(messages, 500), body_size)  # warm-up
        for number in range(rounds):
            contenders = [
                ("sink", result.sink_rates, result.sink_peak_rss),
                ("raw", result.baseline_rates, result.baseline_peak_rss),
            ]
            if number % 2:
                contenders.reverse()
            for kind, rates, memory in contenders:
                rate, peak = publish_in_process(kind, broker_url, bench, messages, body_size)
                rates.append(rate)
                memory.append(peak)
            _, small_peak = publish_in_process("sink", broker_url, bench, small_messages, body_size)
            result.sink_small_peak_rss.append(small_peak)
            rate, _ = publish_in_process(
                "blocking", broker_url, bench, blocking_messages, body_size
            )
            result.blocking_rates.append(rate)
        _purge(broker_url, bench[1])
    return result


def _mib(size: float) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def format_result(result: PublishingResult) -> str:
    """The report, as `python -m benchmarks.publishing` prints it."""

    def verdict(passed: bool) -> str:
        return "not judged (--quick)" if result.quick else ("pass" if passed else "FAIL")

    width = 58
    sink_peak = statistics.median(result.sink_peak_rss)
    small_peak = statistics.median(result.sink_small_peak_rss)
    lines = [
        f"Publishing {result.messages:,} persistent {result.body_size:,}-byte messages with "
        f"publisher confirms ({result.broker}, median of {result.rounds} "
        f"round{'s' if result.rounds != 1 else ''})",
        f"  {'AmqpSink (stateful-collectors)':<{width}}{result.sink_rate:>10,.0f} msg/s",
        f"  {'raw pika SelectConnection, async confirms (baseline)':<{width}}"
        f"{result.baseline_rate:>10,.0f} msg/s",
        f"  {'ratio AmqpSink / baseline':<{width}}{result.ratio:>10.2f}"
        f"   bar >= {RATE_BAR:.2f}: {verdict(result.ratio >= RATE_BAR)}",
        f"  {f'AmqpSink peak memory, {result.messages:,} messages':<{width}}{_mib(sink_peak):>14}",
        f"  {f'AmqpSink peak memory, {result.small_messages:,} messages':<{width}}"
        f"{_mib(small_peak):>14}",
        f"  {'ratio of the two':<{width}}{result.memory_ratio:>10.2f}"
        f"   bar <= {MEMORY_BAR:.2f}: {verdict(result.memory_ratio <= MEMORY_BAR)}",
        f"  {f'context: baseline peak memory, {result.messages:,} messages':<{width}}"
        f"{_mib(statistics.median(result.baseline_peak_rss)):>14}",
        f"  {'context: pika BlockingConnection, confirm each message':<{width}}"
        f"{result.blocking_rate:>10,.0f} msg/s ({result.blocking_messages:,} messages a round)",
        "  rounds (msg/s): AmqpSink "
        + " ".join(f"{rate:,.0f}" for rate in result.sink_rates)
        + "; baseline "
        + " ".join(f"{rate:,.0f}" for rate in result.baseline_rates),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the report; exit 1 when a bar is missed (not in --quick)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.publishing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="AMQP URL of a broker to use (default: start a private one)")
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 1 round (smoke)")
    parser.add_argument("--messages", type=int, help="messages per round (default 100,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    args = parser.parse_args(argv)
    if not args.url:
        reason = broker_missing_reason()
        if reason:
            print(f"skipped: no broker ({reason})")
            return 0
    result = run_publishing_benchmark(
        args.url, quick=args.quick, messages=args.messages, rounds=args.rounds
    )
    print(format_result(result))
    return 0 if result.passed or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
