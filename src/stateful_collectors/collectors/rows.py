r"""A base class for sources whose rows carry a timestamp; it keeps the state itself.

Most sources a collector reads are a feed or a CSV file of rows, each with a
time: an advisory list, a blocklist with "first seen" dates, a log export.
`BaseTimeOrderedRowsCollector` does the bookkeeping such a collector needs, so
a subclass only says how to get the data and how to read it:

* `obtain_data(newest_time)` fetches the data (ask the source for rows *at or
  after* `newest_time` when it can filter; `None` means the first run);
* `split_data_into_rows(data)` cuts it into rows;
* `extract_row_time(row)` reads a row's time (`None` for lines that are no rows);
* `extract_row_key(row)` (optional) tells apart rows that share one time.

Each run publishes the rows no earlier run published, as one message, and then
saves the state. The state stays small whatever the length of the source's
history: the newest row time published so far and the keys of the rows at
exactly that time, nothing else. Rows sharing the newest time are therefore
neither lost nor published twice, even when more of them appear after a run.

A row whose time is older than the newest time already published is never
published: the class cannot tell it from a row it published long ago without
remembering every row, which it deliberately does not. Such rows are counted
(`RowsSelection.older_count`) and, when `obtain_data()` filters by time (so
an older row can only be one that arrived late), logged as a warning.

Example:
    ```python
    from stateful_collectors.collectors.rows import select_new_rows


    def time_of(row):
        return row[:5]


    rows = ["10:00,a", "10:01,b", "10:01,c"]
    first = select_new_rows(rows, None, time_of=time_of)
    print(first.new_rows)
    #> ['10:00,a', '10:01,b', '10:01,c']
    print(first.state())
    #> {'newest_time': '10:01', 'newest_row_keys': ['10:01,b', '10:01,c']}

    # Later the source holds one more row at 10:01, and one at 10:02.
    rows += ["10:01,d", "10:02,e"]
    second = select_new_rows(rows, first.state(), time_of=time_of)
    print(second.new_rows, second.repeated_count, second.older_count)
    #> ['10:01,d', '10:02,e'] 2 1
    print(second.state())
    #> {'newest_time': '10:02', 'newest_row_keys': ['10:02,e']}
    ```

    Here a row's key is the row itself (the default of `select_new_rows`);
    the collector class uses `extract_row_key()`, a short digest of the row
    unless you return an id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, ClassVar

from stateful_collectors._value import Value
from stateful_collectors.collectors.base import BaseCollector
from stateful_collectors.errors import StateFileError
from stateful_collectors.state.mixin import StatefulCollectorMixin

__all__ = ["BaseTimeOrderedRowsCollector", "RowsSelection", "row_digest", "select_new_rows"]

log = logging.getLogger(__name__)

_STATE_KEYS = ("newest_time", "newest_row_keys")


def row_digest(row: Any) -> str:
    """A short, stable digest of a row: 32 hex digits of BLAKE2b.

    Text and bytes rows are hashed as they are; dicts and lists (rows parsed
    from JSON or by `csv.DictReader`) as canonical JSON.

    ```python
    from stateful_collectors.collectors.rows import row_digest

    print(row_digest("7,2026-11-27T20:06:00Z,high,Demo advisory 7"))
    #> 31acef6eafaae361d75a3f4da2d5e97b
    print(row_digest({"id": 7, "title": "x"}) == row_digest({"title": "x", "id": 7}))
    #> True
    ```
    """
    if isinstance(row, str):
        data = row.encode("utf-8")
    elif isinstance(row, (bytes, bytearray, memoryview)):
        data = bytes(row)
    elif isinstance(row, (Mapping, list, tuple)):
        data = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    else:
        raise TypeError(
            f"cannot compute a key for a row of type {type(row).__name__}; override "
            "extract_row_key() to return an id (str or int) for each row"
        )
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class RowsSelection(Value):
    """Which rows of one fetch are new, and the state to save once they are published."""

    __slots__ = (
        "new_rows",
        "newest_time",
        "newest_row_keys",
        "repeated_count",
        "older_count",
        "not_rows_count",
    )
    new_rows: list[Any]
    """The rows no earlier run published, in the order the source gave them."""
    newest_time: Any
    """The newest row time published so far, these rows included (`None`: none yet)."""
    newest_row_keys: list[Any]
    """The keys of the published rows whose time is exactly `newest_time`."""
    repeated_count: int
    """Rows at the saved newest time that an earlier run already published."""
    older_count: int
    """Rows older than the saved newest time: published long ago, or arrived late."""
    not_rows_count: int
    """Lines for which `extract_row_time` returned `None` (headers, comments)."""

    def __init__(
        self,
        new_rows: list[Any],
        newest_time: Any,
        newest_row_keys: list[Any],
        repeated_count: int = 0,
        older_count: int = 0,
        not_rows_count: int = 0,
    ) -> None:
        self._set(
            new_rows, newest_time, newest_row_keys, repeated_count, older_count, not_rows_count
        )

    def state(self) -> dict[str, Any]:
        """The state to save: `{"newest_time": ..., "newest_row_keys": [...]}`."""
        return {"newest_time": self.newest_time, "newest_row_keys": list(self.newest_row_keys)}


def select_new_rows(
    rows: Iterable[Any],
    state: Mapping[str, Any] | None,
    *,
    time_of: Callable[[Any], Any],
    key_of: Callable[[Any], Hashable] = lambda row: row,
) -> RowsSelection:
    """Pick the rows of `rows` that the run which saved `state` had not published.

    A row is new when its time is after the saved newest time, or equal to it
    and its key is not among the saved keys. Rows for which `time_of` returns
    `None` are not rows (a header line, a comment) and are skipped.

    Args:
        rows: the rows of one fetch, in any order.
        state: what `RowsSelection.state()` returned last time (`None`: first run).
        time_of: the time of a row; times must compare with each other (aware
            datetimes, or strings that sort like the times, such as ISO 8601 UTC).
        key_of: what tells apart rows that share one time (an id, or a digest).
    """
    newest_time = None if state is None else state["newest_time"]
    newest_keys = set() if state is None else set(state["newest_row_keys"])
    timed_new_rows: list[tuple[Any, Any]] = []
    repeated_count = older_count = not_rows_count = 0
    for row in rows:
        try:
            row_time = time_of(row)
        except Exception as exc:
            exc.add_note(f"while reading the time of the row {_short(row)}")
            raise
        if row_time is None:
            not_rows_count += 1
        elif newest_time is None or row_time > newest_time:
            timed_new_rows.append((row_time, row))
        elif row_time < newest_time:
            older_count += 1
        elif key_of(row) in newest_keys:
            repeated_count += 1
        else:
            timed_new_rows.append((row_time, row))
    if timed_new_rows:
        latest = max(row_time for row_time, _ in timed_new_rows)
        latest_keys = {key_of(row) for row_time, row in timed_new_rows if row_time == latest}
        if latest == newest_time:
            latest_keys |= newest_keys
        newest_time, newest_keys = latest, latest_keys
    return RowsSelection(
        [row for _, row in timed_new_rows],
        newest_time,
        _sorted_keys(newest_keys),
        repeated_count,
        older_count,
        not_rows_count,
    )


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    """The keys in a stable order, so equal states give equal state files."""
    keys = list(keys)
    try:
        return sorted(keys)
    except TypeError:  # keys of mixed types
        return sorted(keys, key=repr)


def _short(row: Any) -> str:
    text = repr(row)
    return text if len(text) <= 120 else text[:117] + "..."


class BaseTimeOrderedRowsCollector(StatefulCollectorMixin, BaseCollector):
    """A collector of time-stamped rows that publishes each row once and keeps its own state.

    Derive from it directly (no `StatefulCollectorMixin` needed: it is built
    in), set `raw_type` (and `content_type`), a `config_spec` with a
    `state_dir` option, and define `get_source_channel()`, `obtain_data()`,
    `split_data_into_rows()` and `extract_row_time()`.

    A run (`run()`):

    1. loads the state: the newest row time published so far and the keys of
       the rows at exactly that time;
    2. calls `obtain_data(newest_time)` and `split_data_into_rows(data)`,
       before any connection to the broker is opened;
    3. selects the new rows (see `select_new_rows`) and logs what it skipped;
    4. publishes them as **one message** (`format_output_body(rows)`), or
       nothing when there are none, and waits until the sink confirmed it;
    5. saves the new state.

    If anything fails (the source is down, a row cannot be read, the broker
    refuses the message), the run raises before step 5: nothing is saved, and
    the next run fetches the same rows again (at-least-once delivery).

    One message per run, rather than one per row: the rows of one fetch
    belong together (the new part of one file); a consumer that parses such
    files gets a body in the format it already knows; one publish and one
    confirm cost the same for 3 rows as for 3,000; and the state moves in one
    step, exactly when that message is confirmed, so a failed run repeats its
    whole batch or none of it.

    Attributes:
        source_filters_by_time: `True` (default) when `obtain_data()` asks the
            source only for rows at or after `newest_time`; a row older than
            that can then only be a late arrival, and the count of such rows
            is logged as a warning. Set it to `False` when `obtain_data()`
            fetches the whole file each time: older rows are then the ones
            published before, skipped with a debug log line only.
        selection: what the last run selected (`RowsSelection`), for logs and tests.
    """

    state_version: ClassVar[int | None] = 1
    source_filters_by_time: ClassVar[bool] = True

    selection: RowsSelection | None = None

    # -- what a subclass defines

    def obtain_data(self, newest_time: Any) -> Any:
        """Fetch the source's data (bytes, text, parsed JSON...). Override this.

        Args:
            newest_time: the newest row time published so far, as
                `extract_row_time()` returned it, or `None` on the first run.
                If the source can filter, ask it for the rows *at or after*
                this time (inclusive: more rows may have appeared at exactly
                this time since the last run); the class drops the repeats.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define obtain_data(newest_time) and return the "
            "source's data"
        )

    def split_data_into_rows(self, data: Any) -> Iterable[Any]:
        """Cut the data that `obtain_data()` returned into rows. Override this.

        A row can be anything `extract_row_time()` and `format_output_body()`
        understand: a line of text, a dict from `csv.DictReader`, a JSON object.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define split_data_into_rows(data), e.g. "
            "return data.splitlines()"
        )

    def extract_row_time(self, row: Any) -> Any:
        """The time of `row`, or `None` if it is no row (a header, a comment). Override this.

        Return values that compare in time order: aware `datetime` objects, or
        strings that sort like the times (ISO 8601 in UTC, such as
        `2026-11-27T20:00:00Z`). The same kind of value comes back as
        `newest_time` in `obtain_data()`.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define extract_row_time(row) and return the row's "
            "time (a datetime or an ISO 8601 string)"
        )

    def extract_row_key(self, row: Any) -> Hashable:
        """What tells `row` apart from other rows with the same time.

        The default is `row_digest(row)`, a digest of the whole row. Return the
        row's id instead when it has one: an id survives a change of an
        unimportant column, and the state file then shows which rows it means.
        Keys are stored only for rows at the newest time.
        """
        return row_digest(row)

    def format_output_body(self, rows: list[Any]) -> bytes | str:
        """The body of the message that carries the new rows.

        The default writes text or bytes rows one per line. Override it for
        other rows, or to add a header line (a CSV file's column names).
        """
        if all(isinstance(row, str) for row in rows):
            return "".join(f"{row}\n" for row in rows)
        if all(isinstance(row, (bytes, bytearray)) for row in rows):
            return b"".join(bytes(row) + b"\n" for row in rows)
        raise TypeError(
            f"{type(self).__qualname__}: the default format_output_body() handles text or "
            "bytes rows only; override it to turn your rows into a message body"
        )

    # -- the state

    def make_default_state(self) -> dict[str, Any]:
        """The state before the first run: no row published yet."""
        return {"newest_time": None, "newest_row_keys": []}

    def load_state(self) -> dict[str, Any]:
        """The saved state, checked: `{"newest_time": ..., "newest_row_keys": [...]}`."""
        state = super().load_state()
        if not (
            isinstance(state, dict)
            and set(state) == set(_STATE_KEYS)
            and isinstance(state["newest_row_keys"], list)
        ):
            raise StateFileError(
                f"{self.state_store.description} does not hold the state of a time-ordered "
                f"rows collector (got {_short(state)}); it should look like "
                '{"newest_time": ..., "newest_row_keys": [...]}: set it with '
                "'stateful-collectors state set' or reset it"
            )
        return state

    # -- the run

    def run(self) -> None:
        """Load the state, fetch, publish the new rows as one message, save the state."""
        state = self.load_state()
        data = self.obtain_data(state["newest_time"])
        selection = select_new_rows(
            self.split_data_into_rows(data),
            state,
            time_of=self.extract_row_time,
            key_of=self.extract_row_key,
        )
        self.selection = selection
        self._log_selection(selection, state["newest_time"])
        super().run()
        self.save_state(selection.state())

    def start_publishing(self) -> None:
        """Publish the selected rows as one message (nothing if there are none)."""
        assert self.selection is not None
        if self.selection.new_rows:
            self.publish_output(*self.get_output_components(rows=self.selection.new_rows))
        self.inner_stop()

    def get_output_data_body(self, source: str, **processed_data: Any) -> Any:
        """The message body: `format_output_body(rows)`."""
        return self.format_output_body(processed_data["rows"])

    def _log_selection(self, selection: RowsSelection, newest_time: Any) -> None:
        name = type(self).__qualname__
        log.info(
            "%s: %d new row(s); %d at the last newest time %r were published before",
            name,
            len(selection.new_rows),
            selection.repeated_count,
            newest_time,
        )
        if selection.older_count:
            if self.source_filters_by_time:
                log.warning(
                    "%s: %d row(s) arrived late, with a time older than %r, the newest time "
                    "already published; they are not published",
                    name,
                    selection.older_count,
                    newest_time,
                )
            else:
                log.debug(
                    "%s: %d row(s) older than %r skipped (published by earlier runs)",
                    name,
                    selection.older_count,
                    newest_time,
                )
