"""Publishing throughput: `AmqpSink` against raw pika with asynchronous confirms.

Publishes the same persistent 1 KiB messages (publisher confirms, `mandatory`,
a durable queue bound to the exchange, so the broker writes them to disk)
three ways against one broker, in one run:

* through `AmqpSink`, the way a collector's `publish_output()` does;
* the baseline: a raw pika `SelectConnection` that publishes everything and
  counts the broker's acks in its confirm callback, stopping when all are in;
* for context, a pika `BlockingConnection` with `confirm_delivery()`, which
  waits for each message's confirm before sending the next (fewer messages:
  it is slow).

Rounds alternate the order of the first two; the medians are reported, and
the bar is `AmqpSink` >= 0.9x the baseline's rate.

Run it (a private broker is started when no `--url` is given):

    uv run python -m benchmarks.publishing            # 10,000 messages, 5 rounds
    uv run python -m benchmarks.publishing --quick    # 500 messages, 1 round
    uv run python -m benchmarks.publishing --url amqp://guest:guest@127.0.0.1:5672/%2F

From Python: `run_publishing_benchmark(url=None, quick=False)` returns a
`PublishingResult`; `format_result()` renders it as the command prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BAR = 0.9
"""AmqpSink's rate must be at least this fraction of the raw async-confirm baseline's."""

__all__ = [
    "BAR",
    "PublishingResult",
    "broker_missing_reason",
    "format_result",
    "main",
    "run_publishing_benchmark",
]


@dataclasses.dataclass
class PublishingResult:
    """Rates in messages per second; per-round lists and their medians."""

    messages: int
    """Messages per round for the sink and the baseline."""
    blocking_messages: int
    """Messages per round for the blocking confirm-each loop."""
    body_size: int
    rounds: int
    sink_rates: list[float]
    baseline_rates: list[float]
    blocking_rates: list[float]
    broker: str
    """Where it ran: 'private broker', or host:port of the broker given."""
    quick: bool = False
    """A smoke run: too short to judge the bar."""

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
        """`sink_rate / baseline_rate`; the bar is `BAR`."""
        return self.sink_rate / self.baseline_rate

    @property
    def passed(self) -> bool:
        """Whether the ratio meets the bar."""
        return self.ratio >= BAR


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


# ---------------------------------------------------------------- the three publishers


def _messages(count: int, size: int, run_tag: str) -> tuple[list[bytes], list[str]]:
    bodies = [(f"{run_tag}:{i:08d}:".encode() * size)[:size] for i in range(count)]
    ids = [f"{run_tag}-{i}" for i in range(count)]
    return bodies, ids


def publish_with_sink(
    url: str, exchange: str, routing_key: str, bodies: list[bytes], ids: list[str]
) -> float:
    """Publish through `AmqpSink` (connect, publish all, confirm all); return msg/s."""
    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.amqp import AmqpSink

    sink = AmqpSink.from_url(url)
    started = time.perf_counter()
    try:
        sink.open([Exchange(exchange)])
        for body, message_id in zip(bodies, ids, strict=True):
            sink.publish(exchange, routing_key, body, {"message_id": message_id})
        sink.confirm_all()
        elapsed = time.perf_counter() - started
    finally:
        sink.close()
    return len(bodies) / elapsed


def publish_raw_async(
    url: str, exchange: str, routing_key: str, bodies: list[bytes], ids: list[str]
) -> float:
    """The baseline: raw `SelectConnection`, publish all, count acks; return msg/s."""
    import pika
    from pika.adapters.select_connection import SelectConnection

    total = len(bodies)
    progress = {"acked": 0, "elapsed": 0.0, "error": None}

    def on_open(connection):
        connection.channel(on_open_callback=on_channel_open)

    def on_channel_open(channel):
        channel.add_on_return_callback(lambda *args: on_failure(f"returned: {args[1]}"))
        channel.confirm_delivery(on_confirm, callback=lambda _frame: declare(channel))

    def declare(channel):
        channel.exchange_declare(
            exchange, "topic", durable=True, callback=lambda _frame: publish_all(channel)
        )

    def publish_all(channel):
        for body, message_id in zip(bodies, ids, strict=True):
            channel.basic_publish(
                exchange,
                routing_key,
                body,
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
                mandatory=True,
            )

    def on_confirm(frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            on_failure(f"nack {method.delivery_tag}")
            return
        # One channel, one queue: RabbitMQ confirms in order, so the highest tag is the count.
        progress["acked"] = max(progress["acked"], method.delivery_tag)
        if progress["acked"] >= total and not progress["elapsed"]:
            progress["elapsed"] = time.perf_counter() - started
            connection.close()

    def on_failure(error):
        progress["error"] = error
        if connection.is_open:
            connection.close()

    started = time.perf_counter()
    connection = SelectConnection(
        pika.URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=lambda _c, error: on_failure(error),
        on_close_callback=lambda c, _reason: c.ioloop.stop(),
    )
    connection.ioloop.start()
    if progress["error"] or not progress["elapsed"]:
        raise RuntimeError(f"raw async publishing failed: {progress['error']}")
    return total / progress["elapsed"]


def publish_blocking_each(
    url: str, exchange: str, routing_key: str, bodies: list[bytes], ids: list[str]
) -> float:
    """For context: `BlockingConnection`, waiting for each confirm in turn; return msg/s."""
    import pika

    started = time.perf_counter()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(exchange, "topic", durable=True)
        for body, message_id in zip(bodies, ids, strict=True):
            channel.basic_publish(
                exchange,
                routing_key,
                body,
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
                mandatory=True,
            )
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return len(bodies) / elapsed


# ---------------------------------------------------------------- the run


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


def run_publishing_benchmark(
    url: str | None = None,
    *,
    quick: bool = False,
    messages: int | None = None,
    rounds: int | None = None,
    blocking_messages: int | None = None,
    body_size: int = 1024,
) -> PublishingResult:
    """Run the benchmark and return its figures (see the module docstring).

    Args:
        url: an AMQP URL of the broker to use; `None` starts a private one.
        quick: a smoke run (500 messages, 1 round, 100 for the blocking loop).
        messages: messages per round for the sink and the baseline (default 10,000).
        rounds: rounds (default 5); the order of sink and baseline alternates.
        blocking_messages: messages per round for the blocking loop (default 2,000).
        body_size: bytes per message body.
    """
    messages = messages or (500 if quick else 10_000)
    rounds = rounds or (1 if quick else 5)
    blocking_messages = blocking_messages or (100 if quick else 2_000)
    sink_rates: list[float] = []
    baseline_rates: list[float] = []
    blocking_rates: list[float] = []
    with _broker_url(url) as (broker_url, where), _bench_queue(broker_url) as bench:
        exchange, queue, routing_key = bench
        for publish in (publish_with_sink, publish_raw_async):  # warm-up, not counted
            bodies, ids = _messages(min(messages, 200), body_size, f"warm-{publish.__name__}")
            publish(broker_url, exchange, routing_key, bodies, ids)
        for number in range(rounds):
            contenders = [(publish_with_sink, sink_rates), (publish_raw_async, baseline_rates)]
            if number % 2:
                contenders.reverse()
            contenders.append((publish_blocking_each, blocking_rates))
            for publish, rates in contenders:
                count = blocking_messages if publish is publish_blocking_each else messages
                bodies, ids = _messages(count, body_size, f"r{number}-{publish.__name__}")
                _purge(broker_url, queue)
                rates.append(publish(broker_url, exchange, routing_key, bodies, ids))
        _purge(broker_url, queue)
    return PublishingResult(
        messages=messages,
        blocking_messages=blocking_messages,
        body_size=body_size,
        rounds=rounds,
        sink_rates=sink_rates,
        baseline_rates=baseline_rates,
        blocking_rates=blocking_rates,
        broker=where,
        quick=quick,
    )


def format_result(result: PublishingResult) -> str:
    """The report, as `python -m benchmarks.publishing` prints it."""
    if result.quick:
        verdict = "not judged (--quick)"
    else:
        verdict = "pass" if result.passed else "FAIL"
    width = 58
    lines = [
        f"Publishing {result.messages:,} persistent {result.body_size:,}-byte messages with "
        f"publisher confirms ({result.broker}, median of {result.rounds} "
        f"round{'s' if result.rounds != 1 else ''})",
        f"  {'AmqpSink (stateful-collectors)':<{width}}{result.sink_rate:>10,.0f} msg/s",
        f"  {'raw pika SelectConnection, async confirms (baseline)':<{width}}"
        f"{result.baseline_rate:>10,.0f} msg/s",
        f"  {'ratio AmqpSink / baseline':<{width}}{result.ratio:>10.2f}"
        f"   bar >= {BAR:.2f}: {verdict}",
        f"  {'context: pika BlockingConnection, confirm each message':<{width}}"
        f"{result.blocking_rate:>10,.0f} msg/s ({result.blocking_messages:,} messages a round)",
        f"  {'context: baseline / blocking':<{width}}"
        f"{result.baseline_rate / result.blocking_rate:>10.1f}x",
        "  rounds (msg/s): AmqpSink "
        + " ".join(f"{rate:,.0f}" for rate in result.sink_rates)
        + "; baseline "
        + " ".join(f"{rate:,.0f}" for rate in result.baseline_rates),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the report; exit 1 when the bar is missed (not in --quick)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.publishing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="AMQP URL of a broker to use (default: start a private one)")
    parser.add_argument("--quick", action="store_true", help="500 messages, 1 round (smoke run)")
    parser.add_argument("--messages", type=int, help="messages per round (default 10,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5)")
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
