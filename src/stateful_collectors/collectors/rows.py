r"""A base class for sources whose rows carry a time; it keeps the state itself (n6 4.x's API).

Most sources a collector reads are a feed or a CSV file of rows, each with a
time: an advisory list, a blocklist with "first seen" dates, a log export.
`BaseTimeOrderedRowsCollector` does the bookkeeping such a collector needs,
with the names n6 4.x gives it, so a subclass only says how to get the data
and how to read a row's time:

* `obtain_orig_data()` fetches the data (bytes);
* `all_rows_from_orig_data(orig_data)` cuts it into rows (by default: UTF-8
  text, one row per line);
* `pick_raw_row_time(row)` picks a row's time as written, `clean_row_time(raw)`
  makes it comparable (`None` from either: not a row);
* `output_data_from_fresh_rows(rows)` (optional) makes the message body.

Each run publishes the rows no earlier run published, as one message, and
saves the state in `after_completed_publishing()`, once that message is
confirmed. The state stays small whatever the length of the source's
history: the newest row time published so far (`newest_row_time`), the keys
of the rows at exactly that time (`newest_rows`) and how many rows the source
held (`rows_count`). Rows sharing the newest time are therefore neither lost
nor published twice, even when more of them appear after a run.

A row whose time is older than the newest time already published is never
published: the class cannot tell it from a row it published long ago without
remembering every row, which it deliberately does not. Such late rows are
counted and logged: from the change in `rows_count` for a source fetched whole
(as n6 does), or directly when the source filters by time
(`source_filters_by_time`).

Example:
    ```python
    from stateful_collectors.collectors.rows import select_new_rows


    def time_of(row):
        return row[:5]


    rows = ["10:00,a", "10:01,b", "10:01,c"]
    first = select_new_rows(rows, None, time_of=time_of)
    print(first.new_rows)
    #> ['10:00,a', '10:01,b', '10:01,c']
    state = first.state()
    print(state["newest_row_time"], state["newest_rows"], state["rows_count"])
    #> 10:01 ['10:01,b', '10:01,c'] 3

    # Later the source holds one more row at 10:01, and one at 10:02.
    rows += ["10:01,d", "10:02,e"]
    second = select_new_rows(rows, state, time_of=time_of)
    print(second.new_rows, second.repeated_count, second.older_count)
    #> ['10:01,d', '10:02,e'] 2 1
    print(second.state())
    #> {'newest_row_time': '10:02', 'newest_rows': ['10:02,e'], 'rows_count': 5}
    ```

    Here a row's key is the row itself (the default of `select_new_rows`);
    the collector class uses `extract_row_key()`, a short digest of the row
    unless you return an id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from stateful_collectors._value import Value
from stateful_collectors.collectors.simple import BaseTwoPhaseCollector
from stateful_collectors.errors import StateFileError
from stateful_collectors.state.mixin import StatefulCollectorMixin

__all__ = ["BaseTimeOrderedRowsCollector", "RowsSelection", "row_digest", "select_new_rows"]

log = logging.getLogger(__name__)

_STATE_KEYS = frozenset({"newest_row_time", "newest_rows", "rows_count"})
_VERSION_1_KEYS = frozenset({"newest_time", "newest_row_keys"})
_FATAL_OPTION = "row_count_mismatch_is_fatal"


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
        data = row.encode("utf-8", "surrogateescape")
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
        "newest_row_time",
        "newest_rows",
        "rows_count",
        "repeated_count",
        "older_count",
        "not_rows_count",
        "duplicate_count",
    )
    new_rows: list[Any]
    """The rows no earlier run published, oldest first (equal times in the source's order)."""
    newest_row_time: Any
    """The newest row time published so far, these rows included."""
    newest_rows: list[Any]
    """The keys of the published rows whose time is exactly `newest_row_time`."""
    rows_count: int
    """The rows of this fetch (lines that are no rows not counted)."""
    repeated_count: int
    """Rows at the saved newest time that an earlier run already published."""
    older_count: int
    """Rows older than the saved newest time: published long ago, or arrived late."""
    not_rows_count: int
    """Lines whose time came back `None` (headers, comments, blank lines)."""
    duplicate_count: int
    """New rows whose key another new row of this fetch has too."""

    def __init__(
        self,
        new_rows: list[Any],
        newest_row_time: Any,
        newest_rows: list[Any],
        rows_count: int,
        repeated_count: int = 0,
        older_count: int = 0,
        not_rows_count: int = 0,
        duplicate_count: int = 0,
    ) -> None:
        self._set(
            new_rows,
            newest_row_time,
            newest_rows,
            rows_count,
            repeated_count,
            older_count,
            not_rows_count,
            duplicate_count,
        )

    def state(self) -> dict[str, Any]:
        """The state to save once `new_rows` are published (n6's keys)."""
        return {
            "newest_row_time": self.newest_row_time,
            "newest_rows": list(self.newest_rows),
            "rows_count": self.rows_count,
        }


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
    newest_time = None if state is None else state["newest_row_time"]
    newest_keys = set() if state is None else set(state["newest_rows"])
    fresh: list[tuple[Any, Any, Hashable]] = []
    rows_count = repeated_count = older_count = not_rows_count = 0
    for row in rows:
        try:
            row_time = time_of(row)
        except Exception as exc:
            exc.add_note(f"while reading the time of the row {_short(row)}")
            raise
        if row_time is None:
            not_rows_count += 1
            continue
        rows_count += 1
        if newest_time is None:
            fresh.append((row_time, row, key_of(row)))
            continue
        try:
            if row_time < newest_time:  # most rows of a long history: one comparison
                older_count += 1
                continue
            same = row_time == newest_time
        except TypeError:
            raise TypeError(
                f"the time {row_time!r} of the row {_short(row)} cannot be compared with the "
                f"saved newest row time {newest_time!r}; return times of one kind (and, if the "
                "first run starts from another kind, override get_oldest_possible_row_time())"
            ) from None
        key = key_of(row)
        if same and key in newest_keys:
            repeated_count += 1
            continue
        fresh.append((row_time, row, key))
    fresh.sort(key=operator.itemgetter(0))  # oldest first; equal times keep their order
    fresh_keys = [key for _, _, key in fresh]
    duplicate_count = len(fresh_keys) - len(set(fresh_keys))
    if fresh:
        latest = fresh[-1][0]
        latest_keys = {key for row_time, _, key in fresh if row_time == latest}
        if latest == newest_time:
            latest_keys |= newest_keys
        newest_time, newest_keys = latest, latest_keys
    return RowsSelection(
        [row for _, row, _ in fresh],
        newest_time,
        _sorted_keys(newest_keys),
        rows_count,
        repeated_count,
        older_count,
        not_rows_count,
        duplicate_count,
    )


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    """The keys in a stable order, so equal states give equal state files."""
    keys = list(keys)
    try:
        return sorted(keys)
    except TypeError:  # keys of mixed types
        return sorted(keys, key=repr)


def _is_blank_or_comment(row: str) -> bool:
    """A blank line or a `#` comment (no strip(): it would copy each row of a big file)."""
    return row[:1] == "#" or row == "" or row.isspace()


def _short(row: Any) -> str:
    text = repr(row)
    return text if len(text) <= 120 else text[:117] + "..."


class BaseTimeOrderedRowsCollector(StatefulCollectorMixin, BaseTwoPhaseCollector):
    """A collector of time-stamped rows that publishes each row once and keeps its own state.

    Derive from it directly (the state is built in: no `StatefulCollectorMixin`
    to add), give it its config and source in either dialect (a `config_spec`
    with a `state_dir` option and `get_source_channel()`, or n6's
    `config_spec_pattern` and `get_source()`), and define `obtain_orig_data()`,
    `pick_raw_row_time()` and `clean_row_time()`. The other hooks have
    defaults. `raw_type` is `'file'` and `content_type` `'text/csv'` unless
    you set others.

    A run (`run_collection()`):

    1. `prepare_state()` takes the lock and checks the state can be saved,
       and `prepare_sink()` checks the sink's settings;
    2. `obtain_input_pile()` loads the state, calls `obtain_orig_data()` and
       `all_rows_from_orig_data()`, and keeps the new rows
       (`get_fresh_rows_only()`), all before the broker is contacted. No new
       rows: the run ends, publishing nothing and saving nothing;
    3. the new rows go out as **one message**
       (`output_data_from_fresh_rows(rows)`), and the run waits until the
       sink confirmed it;
    4. `after_completed_publishing()` saves the new state.

    If anything fails (the source is down, a row cannot be read, the broker
    refuses the message), the run raises before step 4: nothing is saved, and
    the next run fetches the same rows again (at-least-once delivery).

    One message per run, rather than one per row: the rows of one fetch
    belong together (the new part of one file); a consumer that parses such
    files gets a body in the format it already knows; one publish and one
    confirm cost the same for 3 rows as for 3,000; and the state moves in one
    step, exactly when that message is confirmed, so a failed run repeats its
    whole batch or none of it.

    Attributes:
        source_filters_by_time: `False` (default, as in n6) when
            `obtain_orig_data()` fetches the whole source every time: rows
            older than the newest time published are the ones published
            before, and late rows show as a change in the number of rows
            (`rows_count`). Set it to `True` when `obtain_orig_data()` asks
            the source only for rows at or after `newest_row_time`: a row
            older than that can then only be a late one, and is counted as
            such; the count check is off.
        selection: what the last run selected (`RowsSelection`), for logs and tests.

    The option `row_count_mismatch_is_fatal` (n6's; added to the collector's
    section in n6's dialect, declare it as `:: bool` in a `config_spec`) turns
    the warnings about late rows, removed rows and duplicates into a
    `ValueError` that fails the run before anything is published.
    """

    raw_type: ClassVar[str | None] = "file"
    content_type: ClassVar[str | None] = "text/csv"
    state_version: ClassVar[int | None] = 2
    source_filters_by_time: ClassVar[bool] = False

    selection: RowsSelection | None = None
    _rows_state: dict[str, Any] | None = None

    @classmethod
    def config_spec_pattern_defaults(cls) -> str:
        """Adds `row_count_mismatch_is_fatal = no :: bool` in n6 4.x's dialect."""
        return super().config_spec_pattern_defaults() + f"{_FATAL_OPTION} = no :: bool\n"

    # -- what a subclass defines

    def obtain_orig_data(self) -> bytes:
        """Fetch the source's data (bytes). Override this.

        To ask a source that can filter by time for the new rows only, read
        `newest_row_time` here, ask for the rows *at or after* it (more rows
        may have appeared at exactly that time since the last run; the class
        drops the repeats) and set `source_filters_by_time = True`.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define obtain_orig_data() and return the source's data"
        )

    def pick_raw_row_time(self, row: Any) -> Any:
        """The time of `row` as written in it (`None`: not a row). Override this."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define pick_raw_row_time(row) and return the "
            "row's time field"
        )

    def clean_row_time(self, raw_row_time: Any) -> Any:
        """The picked time, made comparable (`None`: not a row). Override this.

        Return values that compare in time order, equal for equal times: aware
        `datetime` objects, or strings that sort like the times (ISO 8601 in
        UTC, such as `2026-11-27T20:00:00Z`). They must compare greater than
        `get_oldest_possible_row_time()`.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must define clean_row_time(raw_row_time) and return "
            "a comparable time (e.g. an ISO 8601 string in UTC)"
        )

    # -- hooks with defaults

    def get_oldest_possible_row_time(self) -> Any:
        """The newest row time of a collector that never ran: `''`, older than any string.

        Override it if `clean_row_time()` returns something else, e.g. with
        `datetime.datetime.min.replace(tzinfo=datetime.UTC)` for datetimes.
        """
        return ""

    def all_rows_from_orig_data(self, orig_data: Any) -> Iterable[Any]:
        """The rows of the fetched data: `split_orig(decode_orig(orig_data))`.

        Override it for rows of another kind: the dicts of `csv.DictReader`,
        the objects of a JSON array.
        """
        decoded = self.decode_orig(orig_data)
        del orig_data  # a big file's bytes need not outlive their text (the caller kept none)
        return self.split_orig(decoded)

    def decode_orig(self, orig_data: Any) -> str:
        """Bytes to text: UTF-8 (undecodable bytes kept as surrogates); text stays as it is."""
        if isinstance(orig_data, str):
            return orig_data
        return bytes(orig_data).decode("utf-8", "surrogateescape")

    def split_orig(self, decoded: str) -> list[str]:
        r"""Text to rows: one row per line (`'\n'`)."""
        return decoded.split("\n")

    def extract_row_time(self, row: Any) -> Any:
        """The comparable time of `row`, or `None` if it is no row.

        The template: `should_row_be_used(row)`, then `pick_raw_row_time(row)`,
        then `clean_row_time(raw)`; a false answer or a `None` skips the row.
        """
        if not self.should_row_be_used(row):
            return None
        raw_row_time = self.pick_raw_row_time(row)
        if raw_row_time is None:
            return None
        return self.clean_row_time(raw_row_time)

    def should_row_be_used(self, row: Any) -> bool:
        """Whether `row` is a row at all: not blank, not a `#` comment (for text rows)."""
        return not (isinstance(row, str) and _is_blank_or_comment(row))

    def extract_row_key(self, row: Any) -> Hashable:
        """What tells `row` apart from other rows with the same time (this library's hook).

        The default is `row_digest(row)`, a digest of the whole row (n6 keeps
        the whole rows). Return the row's id instead when it has one: an id
        survives a change of an unimportant column, and the state then shows
        which rows it means. Keys are kept only for rows at the newest time.
        """
        return row_digest(row)

    def output_data_from_fresh_rows(self, fresh_rows: list[Any]) -> bytes:
        """The message body for the new rows: `encode_output(join_output(rows))`."""
        return self.encode_output(self.join_output(fresh_rows))

    def join_output(self, fresh_rows: list[Any]) -> str:
        r"""Text rows joined by `'\n'` (no newline after the last one, as in n6)."""
        if not all(isinstance(row, str) for row in fresh_rows):
            raise TypeError(
                f"{type(self).__qualname__}: the default join_output() joins text rows; "
                "override output_data_from_fresh_rows() to turn your rows into a message body"
            )
        return "\n".join(fresh_rows)

    def encode_output(self, joined: str) -> bytes:
        """Text to bytes: UTF-8, the surrogates of `decode_orig()` back to their bytes."""
        return joined.encode("utf-8", "surrogateescape")

    # -- the state

    @property
    def newest_row_time(self) -> Any:
        """The newest row time published by earlier runs (from `obtain_orig_data()` on).

        `get_oldest_possible_row_time()` (`''` by default) before the first
        run.
        """
        if self._rows_state is None:
            raise RuntimeError("newest_row_time is known once the state is loaded")
        return self._rows_state["newest_row_time"]

    def make_default_state(self) -> dict[str, Any]:
        """The state before the first run: no row published yet."""
        return {
            "newest_row_time": self.get_oldest_possible_row_time(),
            "newest_rows": [],
            "rows_count": 0,
        }

    def load_state(self) -> dict[str, Any]:
        """The saved state, checked: `{"newest_row_time", "newest_rows", "rows_count"}`."""
        state = super().load_state()
        if not (
            isinstance(state, dict)
            and set(state) == _STATE_KEYS
            and isinstance(state["newest_rows"], (list, tuple, set, frozenset))
            and (state["rows_count"] is None or type(state["rows_count"]) is int)
        ):
            raise StateFileError(
                f"{self.state_store.description} does not hold the state of a time-ordered "
                f"rows collector (got {_short(state)}); it should look like "
                '{"newest_row_time": ..., "newest_rows": [...], "rows_count": ...}: set it '
                f"with 'stateful-collectors state set {self._command_target()} VALUE', or "
                f"reset it with 'stateful-collectors state reset {self._command_target()}'"
            )
        return {**state, "newest_rows": _sorted_keys(state["newest_rows"])}

    def migrate_state(self, state: Any, from_version: int) -> Any:
        """Version 1 (`newest_time`, `newest_row_keys`) and n6's unversioned state, to version 2.

        Version 1, this library's earlier state, keeps its time and keys. An
        unversioned state with n6's keys (a state file n6 4.x wrote) gets the
        keys of its rows (`extract_row_key()`). `rows_count` becomes `None`,
        so the first run after the migration does not check the count.
        """
        if from_version == 1 and isinstance(state, dict) and set(state) == _VERSION_1_KEYS:
            newest_time = state["newest_time"]
            return {
                "newest_row_time": (
                    self.get_oldest_possible_row_time() if newest_time is None else newest_time
                ),
                "newest_rows": list(state["newest_row_keys"]),
                "rows_count": None,
            }
        if (
            from_version == 0
            and isinstance(state, dict)
            and {"newest_row_time", "newest_rows"} <= set(state) <= _STATE_KEYS
        ):
            try:
                keys = [self.extract_row_key(row) for row in state["newest_rows"]]
            except Exception as exc:
                raise StateFileError(
                    f"{self.state_store.description}: cannot key the rows of n6's state "
                    f"({type(exc).__name__}: {exc}); set the state with 'stateful-collectors "
                    f"state set {self._command_target()} VALUE', or reset it with "
                    f"'stateful-collectors state reset {self._command_target()}'"
                ) from None
            return {
                "newest_row_time": state["newest_row_time"],
                "newest_rows": keys,
                "rows_count": state.get("rows_count"),
            }
        if from_version in (0, 1):
            return state  # of another shape: load_state() refuses it, naming the file
        return super().migrate_state(state, from_version)

    # -- the run

    def obtain_input_pile(self) -> list[Any] | None:
        """Load the state, fetch, keep the new rows; `None` when there are none."""
        self._rows_state = self.load_state()
        # No name for the fetched data or its rows: each is freed as soon as it is used up.
        fresh_rows = self.get_fresh_rows_only(self.all_rows_from_orig_data(self.obtain_orig_data()))
        return fresh_rows or None

    def get_fresh_rows_only(self, all_rows: Iterable[Any]) -> list[Any]:
        """The rows no earlier run published, oldest first; counts checked and logged."""
        state = self._rows_state
        if state is None:
            raise RuntimeError("get_fresh_rows_only() needs the state: call load_state() first")
        selection = select_new_rows(
            all_rows, state, time_of=self._row_time_function(), key_of=self.extract_row_key
        )
        self.selection = selection
        self._log_selection(selection, state)
        if selection.new_rows:
            self._rows_state = selection.state()
        return selection.new_rows

    def _row_time_function(self) -> Callable[[Any], Any]:
        """`extract_row_time`, or the same template in one function, a call per row fewer.

        A big file's run calls it for every row: when a subclass keeps the
        template and the default `should_row_be_used()`, the three steps run
        in one function instead of three methods, with the same result.
        """
        cls = type(self)
        base = BaseTimeOrderedRowsCollector
        if (
            cls.extract_row_time is not base.extract_row_time
            or cls.should_row_be_used is not base.should_row_be_used
        ):
            return self.extract_row_time
        pick, clean = self.pick_raw_row_time, self.clean_row_time

        def row_time(row: Any) -> Any:
            # _is_blank_or_comment(), inlined: one call fewer for each row of a big file.
            if isinstance(row, str) and (row[:1] == "#" or row == "" or row.isspace()):
                return None
            raw = pick(row)
            return None if raw is None else clean(raw)

        return row_time

    def generate_input_data_dicts(self, input_pile: Any, /) -> Iterator[dict[str, Any]]:
        """One message for all the new rows: `{"fresh_rows": rows}`."""
        yield {"fresh_rows": input_pile}

    def get_output_data_body(self, source: str, **processed_data: Any) -> Any:
        """The message body: `output_data_from_fresh_rows(fresh_rows)`."""
        return self.output_data_from_fresh_rows(processed_data["fresh_rows"])

    def after_completed_publishing(self) -> None:
        """The message is confirmed: save the new state."""
        super().after_completed_publishing()
        if self._rows_state is not None:
            self.save_state(self._rows_state)

    def _log_selection(self, selection: RowsSelection, state: Mapping[str, Any]) -> None:
        name = type(self).__qualname__
        log.info(
            "%s: %d new row(s); %d at the last newest time %r were published before",
            name,
            len(selection.new_rows),
            selection.repeated_count,
            state["newest_row_time"],
        )
        problems = self._selection_problems(selection, state)
        if problems and self.config.get(_FATAL_OPTION, False):
            raise ValueError(
                f"{name}: {'; '.join(problems)} (row_count_mismatch_is_fatal is on: nothing "
                "published, state unchanged)"
            )
        for problem in problems:
            log.warning("%s: %s", name, problem)

    def _selection_problems(self, selection: RowsSelection, state: Mapping[str, Any]) -> list[str]:
        """What is wrong with this run's rows: late rows, counts that do not add up, repeats."""
        name = type(self).__qualname__
        newest_time = state["newest_row_time"]
        problems = []
        if self.source_filters_by_time:
            if selection.older_count:
                problems.append(
                    f"{selection.older_count} row(s) arrived late, with a time older than "
                    f"{newest_time!r}, the newest time already published; they are not published"
                )
        else:
            if selection.older_count:
                log.debug(
                    "%s: %d row(s) older than %r skipped (published by earlier runs)",
                    name,
                    selection.older_count,
                    newest_time,
                )
            problems += _count_problems(state["rows_count"], selection)
        if selection.duplicate_count:
            problems.append(
                f"{selection.duplicate_count} new row(s) have the key of another new row "
                "(the same row twice?); all are published"
            )
        return problems


def _count_problems(previous_count: int | None, selection: RowsSelection) -> list[str]:
    """What the change in `rows_count` says about a source fetched whole (none on a first run)."""
    if previous_count is None:
        return []
    new_count = len(selection.new_rows)
    expected = previous_count + new_count
    difference = selection.rows_count - expected
    what = (
        f"the source holds {selection.rows_count} row(s), {abs(difference)} "
        f"{'more' if difference > 0 else 'fewer'} than the {previous_count} of the last "
        f"run plus the {new_count} new one(s)"
    )
    if difference > 0:
        return [
            f"{what}: rows that arrived late, older than the newest time already published, "
            "are not published"
        ]
    if difference < 0:
        return [f"{what}: rows were removed from the source"]
    return []
