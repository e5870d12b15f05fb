"""A real RabbitMQ broker for the tests (one per session), and helpers to inspect it.

To be written (see the integration tests' owner). Interface every test relies on:

* session fixture `broker` -> an object with `url` (amqp://guest:guest@127.0.0.1:PORT/%2F),
  `host`, `port`, `ctl(*args) -> str` (rabbitmqctl against this node), `restart()`,
  `bind_queue(queue, exchange="raw", routing_key="#")` (declare a durable queue bound to a
  durable topic exchange, purged), and `drain(queue) -> list of (routing_key, properties, body)`.
* When Debian's rabbitmq-server is absent the fixture skips with a reason; with
  STATEFUL_COLLECTORS_REQUIRE_BROKER=1 (set by .ci/run) it fails instead.
"""
