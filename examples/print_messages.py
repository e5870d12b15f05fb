"""Print, one line each, the messages the guide's collectors published.

    python print_messages.py outbox.jsonl
    python print_messages.py amqp://guest:guest@127.0.0.1:5672/%2F

With an outbox file, it prints every message in the file. With an AMQP URL,
it declares a durable queue (`tutorial`, bound to the `raw` exchange for every
routing key), then takes and prints the messages waiting in it. Declare the
queue before the collector's first run: a message that no queue would
receive is refused, and the collector's run fails.
"""

import json
import sys

QUEUE = "tutorial"


def describe(routing_key, message_id, body, content_type=None):
    """`routing key: items 4, 5 (message id 1a2b3c4d...)`: one message, on one line."""
    what = contents(body, content_type)
    return f"{routing_key}: {what} (message id {message_id[:8]}...)"


def contents(body, content_type=None):
    """What a body holds: the ids of feed items, else its lines of text, else its size.

    A JSON list of items is `items 4, 5` (`no items` when empty), one item is
    `item 7`; a text body, such as CSV rows, is `3 lines of text/csv`; any
    other body is `1024 bytes`.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and "id" in data:
        return f"item {data['id']}"
    if isinstance(data, list) and all(isinstance(i, dict) and "id" in i for i in data):
        ids = [item["id"] for item in data]
        return f"items {', '.join(map(str, ids))}" if ids else "no items"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(body)} bytes"
    lines = [line for line in text.splitlines() if line.strip()]
    kind = content_type or "text"
    return f"{len(lines)} line{'' if len(lines) == 1 else 's'} of {kind}"


def print_outbox(path):
    from stateful_collectors.sinks.outbox import read_outbox

    for message in read_outbox(path):
        properties = message.properties
        print(
            describe(
                message.routing_key,
                properties["message_id"],
                message.body,
                properties.get("content_type"),
            )
        )


def print_queue(url):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare("raw", exchange_type="topic", durable=True)
        channel.queue_declare(QUEUE, durable=True)
        channel.queue_bind(QUEUE, "raw", routing_key="#")
        taken = 0
        while True:
            method, properties, body = channel.basic_get(QUEUE)
            if method is None:
                break
            print(
                describe(
                    method.routing_key,
                    properties.message_id,
                    body,
                    properties.content_type,
                )
            )
            channel.basic_ack(method.delivery_tag)
            taken += 1
        if not taken:
            print(f"no messages waiting in queue {QUEUE!r}")
    finally:
        connection.close()


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: python print_messages.py OUTBOX_FILE | AMQP_URL")
    if argv[0].startswith(("amqp://", "amqps://")):
        print_queue(argv[0])
    else:
        print_outbox(argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
