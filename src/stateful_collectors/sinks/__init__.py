"""Where published messages go: RabbitMQ, or a JSON Lines outbox file.

A *sink* takes messages from `publish_output()` and confirms them; what a
sink must do is declared in `stateful_collectors.sinks.base` (`Sink`).

`sink_from_config` picks one: RabbitMQ when the config has a `[rabbitmq]`
section or `STATEFUL_COLLECTORS_AMQP_URL` is set, the outbox otherwise.
Neither pika nor anything else heavy is imported until a sink is chosen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stateful_collectors.config import ConfigSource
from stateful_collectors.sinks.base import (
    AMQP_URL_ENV_VAR,
    EXCHANGE_TYPES,
    OUTBOX_ENV_VAR,
    Exchange,
    Sink,
)

__all__ = [
    "AMQP_URL_ENV_VAR",
    "EXCHANGE_TYPES",
    "OUTBOX_ENV_VAR",
    "Exchange",
    "Sink",
    "sink_from_config",
]


def sink_from_config(source: ConfigSource, env: Mapping[str, str] | None = None) -> Sink:
    """The sink the config asks for: RabbitMQ if configured, else the outbox."""
    env = os.environ if env is None else env
    if env.get(AMQP_URL_ENV_VAR) or source.has_section("rabbitmq"):
        from stateful_collectors.sinks.amqp import AmqpSink

        return AmqpSink.from_config(source, env)
    from stateful_collectors.sinks.outbox import OutboxSink

    return OutboxSink.from_config(source, env)
