"""The baseline of the big-feed benchmark: the rows collector's work, by hand, stdlib only.

Reads the CSV file (`id,time,severity,title`) whole, as a download would give
it, and keeps the rows that the run which saved the state had not published:
newer than the saved newest time, or at that time and not among the saved
rows' digests (boundary rows exactly once). Appends them as one message to a
JSON Lines outbox under `flock` and fsyncs it, then saves the new state
durably (temporary file, fsync, rename, fsync of the directory): the same
work as `benchmarks/rows_collector.py` run by the library, and no more (no
config file, no lock, no checks, no logging).

    python benchmarks/baseline_rows.py CSV_FILE STATE_FILE OUTBOX
"""

import fcntl
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time

SOURCE = "csv-file.advisories-csv"


def digest(row):
    return hashlib.blake2b(row.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def load_state(path):
    try:
        with open(path, "rb") as file:
            return pickle.load(file)
    except FileNotFoundError:
        return {"newest_row_time": "", "newest_rows": [], "rows_count": 0}


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


def select(lines, state):
    newest_time, newest_keys = state["newest_row_time"], set(state["newest_rows"])
    fresh, count = [], 0
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        row_time = line.split(",", 2)[1]
        if not row_time[:1].isdigit():
            continue  # the header
        count += 1
        if row_time < newest_time:
            continue
        key = digest(line)
        if row_time == newest_time and key in newest_keys:
            continue
        fresh.append((row_time, line, key))
    fresh.sort(key=lambda entry: entry[0])
    if fresh:
        latest = fresh[-1][0]
        keys = {key for row_time, _, key in fresh if row_time == latest}
        if latest == newest_time:
            keys |= newest_keys
        state = {"newest_row_time": latest, "newest_rows": sorted(keys), "rows_count": count}
    return [line for _, line, _ in fresh], state


def publish(outbox, body):
    record = {
        "body": body.decode("utf-8"),
        "body_encoding": "utf-8",
        "exchange": "raw",
        "properties": {
            "content_type": "text/csv",
            "headers": {},
            "message_id": hashlib.blake2b(
                SOURCE.encode() + b"\n" + body, digest_size=16
            ).hexdigest(),
            "timestamp": int(time.time()),
            "type": "file",
        },
        "routing_key": SOURCE,
    }
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(outbox, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def main(csv_file, state_file, outbox):
    state = load_state(state_file)
    with open(csv_file, "rb") as file:
        text = file.read().decode("utf-8", "surrogateescape")
    rows, new_state = select(text.split("\n"), state)
    if rows:
        publish(outbox, "\n".join(rows).encode("utf-8", "surrogateescape"))
        save_state(state_file, new_state)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
