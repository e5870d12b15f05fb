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


def describe(routing_key, message_id, body):
    """`routing key: items 4, 5 (message id 1a2b3c4d...)` for a body of feed items.

    A body of one item (a JSON object) is `item 7`; any other body, its size.
    """
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            what = f"item {data['id']}"
        else:
            ids = [item["id"] for item in data]
            what = f"items {', '.join(map(str, ids))}" if ids else "no items"
    except (ValueError, TypeError, KeyError):
        what = f"{len(body)} bytes"
    return f"{routing_key}: {what} (message id {message_id[:8]}...)"


def print_outbox(path):
    from stateful_collectors.sinks.outbox import read_outbox

    for message in read_outbox(path):
        print(
            describe(
                message.routing_key, message.properties["message_id"], message.body
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
            print(describe(method.routing_key, properties.message_id, body))
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
