"""Where published messages go: RabbitMQ, or a JSON Lines outbox file.

A *sink* takes messages from `publish_output()` and confirms them; what a
sink must do is declared in `stateful_collectors.sinks.base` (`Sink`).

`sink_from_config` picks one from `SINKS`: RabbitMQ when the config has a
`[rabbitmq]` section or `STATEFUL_COLLECTORS_AMQP_URL` is set, the outbox
otherwise. Neither pika nor anything else heavy is imported until a sink is
chosen. A new sink is a module with a class that has `from_config(source,
env)`, and one line in `SINKS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stateful_collectors.config import BackEnd, ConfigSource, choose_back_end
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
]

SINKS = (
    BackEnd("rabbitmq", AMQP_URL_ENV_VAR, "stateful_collectors.sinks.amqp:AmqpSink"),
    BackEnd("outbox", None, "stateful_collectors.sinks.outbox:OutboxSink"),  # the default
)
"""The sinks a config can select, the first that it selects wins; the last is the default."""

SECTIONS = tuple(sink.section for sink in SINKS if sink.section is not None)
"""The config sections the sinks read: `[rabbitmq]`, `[outbox]`."""


def sink_from_config(source: ConfigSource, env: Mapping[str, str] | None = None) -> Sink:
    """The sink the config asks for: RabbitMQ if configured, else the outbox."""
    env = os.environ if env is None else env
    sink_class = choose_back_end(SINKS, source, env).load()
    sink: Sink = sink_class.from_config(source, env)
    return sink
