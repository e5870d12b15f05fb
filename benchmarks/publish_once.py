"""One publishing contender in a process of its own: its rate and its peak memory.

    python -m benchmarks.publish_once sink|raw|blocking URL EXCHANGE ROUTING_KEY COUNT SIZE

prints one line of JSON: `{"rate": <messages per second>, "peak_rss": <bytes>}`.
The bodies are made one at a time as they are published, so the process's
peak resident memory (`ru_maxrss`) is what the publisher itself holds: the
frames waiting for the socket, the bookkeeping of unconfirmed messages.

* `sink`: `AmqpSink`, the way a collector's `publish_output()` uses it;
* `raw`: the baseline, a raw pika `SelectConnection` that publishes every
  message from one callback and counts the broker's acks in its confirm
  callback, stopping when all are in;
* `blocking`: for context, pika's `BlockingConnection` with
  `confirm_delivery()`, waiting for each confirm before the next message.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["main", "messages"]


def messages(tag: str, count: int, size: int) -> Iterator[tuple[bytes, str]]:
    """`count` distinct bodies of `size` bytes and their message ids, made on demand."""
    for number in range(count):
        yield (f"{tag}:{number:08d}:".encode() * size)[:size], f"{tag}-{number}"


def publish_with_sink(url: str, exchange: str, routing_key: str, count: int, size: int) -> float:
    """Connect, publish all, confirm all through `AmqpSink`; return the seconds it took."""
    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.amqp import AmqpSink

    sink = AmqpSink.from_url(url)
    started = time.perf_counter()
    try:
        sink.open([Exchange(exchange)])
        for body, message_id in messages("sink", count, size):
            sink.publish(exchange, routing_key, body, {"message_id": message_id})
        sink.confirm_all()
        return time.perf_counter() - started
    finally:
        sink.close()


def publish_raw_async(url: str, exchange: str, routing_key: str, count: int, size: int) -> float:
    """The baseline: raw `SelectConnection`, publish all, count the acks; return seconds."""
    import pika
    from pika.adapters.select_connection import SelectConnection

    progress: dict[str, Any] = {"acked": 0, "elapsed": 0.0, "error": None}

    def on_open(connection: SelectConnection) -> None:
        connection.channel(on_open_callback=on_channel_open)

    def on_channel_open(channel: Any) -> None:
        channel.add_on_return_callback(lambda *args: on_failure(f"returned: {args[1]}"))
        channel.confirm_delivery(on_confirm, callback=lambda _frame: declare(channel))

    def declare(channel: Any) -> None:
        channel.exchange_declare(
            exchange, "topic", durable=True, callback=lambda _frame: publish_all(channel)
        )

    def publish_all(channel: Any) -> None:
        for body, message_id in messages("raw", count, size):
            channel.basic_publish(
                exchange,
                routing_key,
                body,
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
                mandatory=True,
            )

    def on_confirm(frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            on_failure(f"nack {method.delivery_tag}")
            return
        # One channel, one queue: RabbitMQ confirms in order, so the highest tag is the count.
        progress["acked"] = max(progress["acked"], method.delivery_tag)
        if progress["acked"] >= count and not progress["elapsed"]:
            progress["elapsed"] = time.perf_counter() - started
            connection.close()

    def on_failure(error: object) -> None:
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
    return float(progress["elapsed"])


def publish_blocking_each(
    url: str, exchange: str, routing_key: str, count: int, size: int
) -> float:
    """For context: `BlockingConnection`, waiting for each confirm in turn; return seconds."""
    import pika

    started = time.perf_counter()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(exchange, "topic", durable=True)
        for body, message_id in messages("blocking", count, size):
            channel.basic_publish(
                exchange,
                routing_key,
                body,
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
                mandatory=True,
            )
        return time.perf_counter() - started
    finally:
        connection.close()


PUBLISHERS = {
    "sink": publish_with_sink,
    "raw": publish_raw_async,
    "blocking": publish_blocking_each,
}


def main(argv: list[str]) -> int:
    kind, url, exchange, routing_key, count, size = argv
    elapsed = PUBLISHERS[kind](url, exchange, routing_key, int(count), int(size))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"rate": int(count) / elapsed, "peak_rss": peak_rss}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
