"""The baseline of the whole-run benchmark: the complete example, written by hand, stdlib only.

It does the work of examples/my_statefull_collector.py and nothing more: load
the state (a pickle; no file means the first run), fetch the items newer than
the saved time with `urllib.request.urlopen` (the example's own call, so both
pay the same for HTTP), and replace the state file durably (temporary file,
write, fsync, rename, fsync of the directory). There is no configuration
file, no command line parsing beyond `sys.argv`, no lock, no checks of the
state file's owner and modes, and no logging.

With `--publish-always` it also appends the message that the seed's collector
publishes on every run (the new items as a JSON list, `[]` when there are
none) to a JSON Lines file, under `flock`, and fsyncs it, as the library's
outbox does. Without it, it publishes only when something is new, like
examples/quiet_collector.py.

    python benchmarks/baseline_collector.py URL STATE_FILE OUTBOX [--publish-always]
"""

import fcntl
import json
import os
import pickle
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SOURCE = "my-statefull-collector.example-channel"


def load_state(path):
    try:
        with open(path, "rb") as file:
            return pickle.load(file)
    except FileNotFoundError:
        return {}


def save_state(path, state):
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory)
    try:
        os.write(fd, pickle.dumps(state, protocol=5))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def publish(outbox, body):
    import hashlib  # only a run that publishes pays for it, as in the library

    message_id = hashlib.blake2b(SOURCE.encode() + b"\n" + body, digest_size=16).hexdigest()
    record = {
        "body": body.decode(),
        "body_encoding": "utf-8",
        "exchange": "raw",
        "properties": {
            "headers": {},
            "message_id": message_id,
            "timestamp": int(time.time()),
            "type": "stream",
        },
        "routing_key": SOURCE,
    }
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def main(url, state_path, outbox, publish_always=False):
    state = load_state(state_path)
    since = state.get("last_utc")
    if since is not None:
        url += "?" + urllib.parse.urlencode({"since": since})
    with urllib.request.urlopen(url, timeout=30) as response:
        items = json.load(response)
    if items or publish_always:
        publish(outbox, json.dumps(items).encode())
    if items:
        state["last_utc"] = items[-1]["time"]
    save_state(state_path, state)


if __name__ == "__main__":
    main(*sys.argv[1:4], publish_always="--publish-always" in sys.argv[4:])
