"""What a sink is: the `Sink` contract, the `Exchange` it declares, the variables that choose it.

The collector runtime only needs four things from a sink, and relies on one
promise: when `confirm_all()` returns, every message published so far is
durably in the sink's hands (the broker's publisher confirms arrived, or the
outbox file was fsynced). That is what makes it safe to save the state right
after `run()` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stateful_collectors._value import Value

__all__ = [
    "AMQP_URL_ENV_VAR",
    "EXCHANGE_TYPES",
    "OUTBOX_ENV_VAR",
    "Exchange",
    "Sink",
]

AMQP_URL_ENV_VAR = "STATEFUL_COLLECTORS_AMQP_URL"
"""An AMQP URL here overrides the `[rabbitmq]` section (and selects RabbitMQ)."""

OUTBOX_ENV_VAR = "STATEFUL_COLLECTORS_OUTBOX"
"""A path here overrides the `[outbox]` section's `path`."""

EXCHANGE_TYPES = ("topic", "direct", "fanout", "headers")
"""The exchange types `output_queue` may name."""


class Exchange(Value):
    """An exchange the collector publishes to; declared durable when the run starts."""

    __slots__ = ("name", "type")
    name: str
    type: str

    def __init__(self, name: str, type: str = "topic") -> None:  # noqa: A002 - AMQP's word
        self._set(name, type)

    @classmethod
    def from_output_queue(
        cls, output_queue: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[Exchange]:
        """Read the `output_queue` class attribute (one dict or a list of dicts)."""
        entries = [output_queue] if isinstance(output_queue, Mapping) else list(output_queue)
        if not entries:
            raise TypeError("output_queue names no exchange; give at least one")
        exchanges = []
        for entry in entries:
            unknown = set(entry) - {"exchange", "exchange_type"}
            if "exchange" not in entry or unknown:
                raise TypeError(
                    "output_queue entries look like {'exchange': 'raw', 'exchange_type': 'topic'}"
                    f"; got {dict(entry)!r}"
                )
            name, kind = entry["exchange"], entry.get("exchange_type", "topic")
            if not isinstance(name, str) or not name:
                raise TypeError(f"output_queue: exchange names a non-empty string; got {name!r}")
            if kind not in EXCHANGE_TYPES:
                raise TypeError(
                    f"output_queue: exchange {name!r} has exchange_type {kind!r}; use one of: "
                    f"{', '.join(EXCHANGE_TYPES)}"
                )
            exchanges.append(cls(name, kind))
        return exchanges


class Sink(Protocol):
    """What the runtime needs from a sink."""

    description: str
    """A short human description for logs and the run summary (no passwords)."""

    def check(self) -> None:
        """Raise now if the sink's settings cannot work, before anything is fetched.

        Nothing is opened or sent: a wrong path or an unusable directory is
        found here, a broker that is down only by `open()`.
        """

    def open(self, exchanges: Sequence[Exchange]) -> None:
        """Connect (or open the file) and declare the exchanges."""

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: Mapping[str, Any]
    ) -> None:
        """Hand one message over; it is confirmed later, by `confirm_all`."""

    def confirm_all(self) -> None:
        """Return when every message published so far is confirmed; raise `PublishError` if not."""

    def close(self) -> None:
        """Release the connection or file; safe to call twice and after a failure."""
