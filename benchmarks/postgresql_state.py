"""`save_state` and `load_state` through the PostgreSQL store, against one hand-written statement.

Bars:

* `save_state` of a 1 KiB state: median at most 1.2x the same save written by
  hand with psycopg: `BEGIN` and
  `UPDATE ... SET data = %s, version = version + 1 WHERE key = %s AND version = %s`
  (the same fence) in one round trip, then `COMMIT` once the update's answer
  came (so that a connection lost before the `COMMIT` is known to have saved
  nothing), with `synchronous_commit = on`, on a connection of its own.
* `load_state` of a 1 KiB state: at most 1.2x one hand-written
  `SELECT data ... WHERE key = %s` and `json.loads`, although `load_state`
  also checks the row's codec and its SHA-256.

For context (no bar): the same saves and loads through the file store.

Both sides encode the same JSON state (the codec this store prefers) and talk
to the same private server (Debian's PostgreSQL, started for the benchmark with
`tests/support/postgresql.py`, `fsync` on), in interleaved rounds. Without
the server binaries the rows say 'skipped: no PostgreSQL'.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, batch, interleave, median, paired_ratio
from benchmarks.results import Row, at_most, format_seconds
from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.state import StatefulCollectorMixin

__all__ = ["LOAD_BAR", "SAVE_BAR", "postgresql_rows"]

SAVE_BAR = 1.2
"""`save_state` (1 KiB) through the store: at most this many times the hand-written UPDATE."""
LOAD_BAR = 1.2
"""`load_state` (1 KiB) through the store: at most this many times the hand-written SELECT."""

SAVE_WHAT = "PostgreSQL store: save_state, 1 KiB state"
LOAD_WHAT = "PostgreSQL store: load_state, 1 KiB state"


class BenchCollector(StatefulCollectorMixin, AbstractBaseCollector):
    """The smallest stateful collector with a JSON state: the file store, or PostgreSQL."""

    state_codec = "json"
    config_spec = """
        [bench]
        state_dir :: path
    """

    def __init__(self, state_dir: str, dsn: str | None = None) -> None:
        postgresql = f"[postgresql]\ndsn = {dsn}\nidentity = bench\n" if dsn else ""
        super().__init__(config_text=f"[bench]\nstate_dir = {state_dir}\n{postgresql}")


def json_state_of_size(size: int) -> dict[str, Any]:
    """A state whose JSON encoding (as the library's codec writes it) is exactly `size` bytes."""
    state: dict[str, Any] = {
        "etag": '"4711"',
        "last_utc": "2026-11-27T20:00:00Z",
        "recent_ids": list(range(100_000, 100_032)),
        "padding": "",
    }
    overhead = len(_encode(state))
    if overhead > size:
        raise ValueError(f"cannot build a JSON state of {size} bytes")
    state["padding"] = "x" * (size - overhead)
    assert len(_encode(state)) == size
    return state


def _encode(state: Any) -> bytes:
    return (json.dumps(state, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def postgresql_rows(directory: str | os.PathLike[str], *, quick: bool = False) -> list[Row]:
    """Start a private server, measure, stop it; the table's rows."""
    from tests.support.postgresql import local_postgresql, postgresql_missing_reason

    if postgresql_missing_reason():
        return [
            Row(what, "-", "-", "", f"<= {bar:.2f}x", "skipped: no PostgreSQL")
            for what, bar in ((SAVE_WHAT, SAVE_BAR), (LOAD_WHAT, LOAD_BAR))
        ]
    with local_postgresql() as server:
        dsn = server.fresh_database("bench")
        return _measure(Path(directory), dsn, quick)


def _measure(directory: Path, dsn: str, quick: bool) -> list[Row]:
    import psycopg

    state = json_state_of_size(1024)
    ours = BenchCollector(str(directory / "unused"), dsn)
    on_file = BenchCollector(str(directory / "state"))
    hand = psycopg.connect(dsn, autocommit=True)
    try:
        ours.save_state(state)  # connects, creates the table, takes the lock: untimed
        on_file.save_state(state)
        hand.execute("SET synchronous_commit = on")
        hand.execute("CREATE TABLE hand (key text PRIMARY KEY, version bigint, data bytea)")
        hand.execute("INSERT INTO hand VALUES ('bench', 1, %s)", [_encode(state)])
        version = [1]
        update = (
            "UPDATE hand SET data = %s, version = version + 1 "
            "WHERE key = %s AND version = %s RETURNING version"
        )

        def hand_save() -> None:
            with hand.pipeline():
                hand.execute("BEGIN")
                cursor = hand.execute(update, [_encode(state), "bench", version[0]])
            row = cursor.fetchone()
            if row is None:
                raise BenchmarkError("the hand-written save updated no row")
            hand.execute("COMMIT")
            version[0] = row[0]

        def hand_load() -> Any:
            row = hand.execute("SELECT data FROM hand WHERE key = %s", ["bench"]).fetchone()
            assert row is not None
            return json.loads(row[0])

        if ours.load_state() != state or hand_load() != state or on_file.load_state() != state:
            raise BenchmarkError("the loads do not give the saved state")
        saves = interleave(
            {
                "ours": batch(lambda: ours.save_state(state), 1),
                "hand": batch(hand_save, 1),
                "file": batch(lambda: on_file.save_state(state), 1),
            },
            rounds=10 if quick else 300,
        )
        calls = 5 if quick else 50
        loads = interleave(
            {
                "ours": batch(ours.load_state, calls),
                "hand": batch(hand_load, calls),
                "file": batch(on_file.load_state, calls),
            },
            rounds=5 if quick else 60,
        )
        if ours.load_state() != state:
            raise BenchmarkError("save_state did not store the state it was given")
    finally:
        hand.close()
        ours.close()
        on_file.close()
    rows = []
    for what, timings, bar, baseline, label in (
        (SAVE_WHAT, saves, SAVE_BAR, "hand-written UPDATE, then COMMIT", "PostgreSQL save, 1 KiB"),
        (LOAD_WHAT, loads, LOAD_BAR, "one hand-written SELECT", "PostgreSQL load, 1 KiB"),
    ):
        rows.append(
            at_most(
                what,
                format_seconds(median(timings["ours"])),
                f"{format_seconds(median(timings['hand']))} {baseline} (psycopg)",
                ratio=paired_ratio(timings["ours"], timings["hand"]),
                bar=bar,
                quick=quick,
                chart_label=label,
            )
        )
    for what, timings in (("save_state", saves), ("load_state", loads)):
        rows.append(
            Row(
                f"PostgreSQL store vs file store: {what}, 1 KiB",
                format_seconds(median(timings["ours"])),
                f"{format_seconds(median(timings['file']))} file store",
                f"{paired_ratio(timings['ours'], timings['file']):.1f}x",
                "",
                "context",
            )
        )
    return rows
