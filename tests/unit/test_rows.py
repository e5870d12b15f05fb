"""BaseTimeOrderedRowsCollector against the real demo feed over HTTP (and a static CSV server).

The subject is the guide's example class, `DemoCsvCollector` of
examples/time_ordered_rows_collector.py, run in-process with `collect()`
(outbox sink): what the base class does with rows. The program itself, run as
a real process, is tested in tests/examples/test_time_ordered_rows_collector.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import http.server
import io
import logging
import pickle
import threading
import urllib.request
from pathlib import Path

import pytest
from time_ordered_rows_collector import DemoCsvCollector

from stateful_collectors import (
    BaseTimeOrderedRowsCollector,
    StateFileError,
    combined_config_spec,
)
from stateful_collectors.collectors.rows import RowsSelection, row_digest, select_new_rows
from stateful_collectors.demo import DemoFeed
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config
from tests.support import ROOT

START = "2026-11-27T20:00:00Z"


def config_for(url: str, state_dir: Path) -> str:
    return make_config("demo_csv_collector", state_dir=state_dir, url=url)


def published_ids(run) -> list[int]:
    """The ids of the rows in the CSV messages of one run, in order."""
    ids = []
    for body in run.bodies:
        ids += [int(row["id"]) for row in csv.DictReader(io.StringIO(body.decode()))]
    return ids


def state_path(state_dir: Path) -> Path:
    (path,) = state_dir.glob("*.pickle")
    return path


# ---------------------------------------------------------------- against the demo feed


def test_first_run_publishes_all_rows_second_only_new_ones(feed_server, state_dir):
    config = config_for(f"{feed_server.url}/items.csv", state_dir)

    first = collect(DemoCsvCollector, config)
    assert published_ids(first) == [1, 2, 3, 4, 5]
    assert len(first.messages) == 1
    message = first.messages[0]
    assert message.properties["type"] == "file"
    assert message.properties["content_type"] == "text/csv"
    assert message.routing_key == "demo-csv-collector.advisories-csv"
    assert message.body.decode().splitlines()[0] == "id,time,severity,title"
    assert first.state == {
        "newest_row_time": "2026-11-27T20:04:00Z",
        "newest_rows": [5],
        "rows_count": 5,
    }

    feed_server.feed.add(3)
    second = collect(DemoCsvCollector, config)
    assert published_ids(second) == [6, 7, 8]
    # The feed answered `from=20:04`: row 5 (published before) and the three new rows.
    assert second.state == {
        "newest_row_time": "2026-11-27T20:07:00Z",
        "newest_rows": [8],
        "rows_count": 4,
    }
    state_before = state_path(state_dir).read_bytes()

    third = collect(DemoCsvCollector, config)
    assert third.messages == []
    assert not third.state_saved  # nothing published: the state is not rewritten
    assert state_path(state_dir).read_bytes() == state_before


def test_rows_sharing_the_boundary_time_are_published_exactly_once(state_dir):
    # Items 6..9 share one time. The first run sees only 6 and 7 of them (the feed's
    # `limit` cuts the group, as a source still writing rows at that time would); the
    # second run's inclusive `from=` query returns 6..9 and must publish 8 and 9 only.
    feed = DemoFeed(history=5, start=START)
    feed.add(4, same_time=True)
    with feed.serve() as server:
        config = config_for(f"{server.url}/items.csv?limit=7", state_dir)
        first = collect(DemoCsvCollector, config)
        assert published_ids(first) == [1, 2, 3, 4, 5, 6, 7]
        assert first.state == {
            "newest_row_time": "2026-11-27T20:05:00Z",
            "newest_rows": [6, 7],
            "rows_count": 7,
        }

        second = collect(DemoCsvCollector, config)
        assert published_ids(second) == [8, 9]
        assert second.state["newest_rows"] == [6, 7, 8, 9]
        assert second.state["newest_row_time"] == "2026-11-27T20:05:00Z"

        feed.add(2, same_time=True)  # 10 and 11, both one step later
        third = collect(DemoCsvCollector, config)
        assert published_ids(third) == [10, 11]
        assert third.state["newest_rows"] == [10, 11]

        fourth = collect(DemoCsvCollector, config)
        assert fourth.messages == []

    everything = published_ids(first) + published_ids(second) + published_ids(third)
    assert sorted(everything) == list(range(1, 12))  # none lost, none twice


def test_a_failed_fetch_publishes_nothing_and_keeps_the_state(feed_server, state_dir, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    good = config_for(f"{feed_server.url}/items.csv", state_dir)
    collect(DemoCsvCollector, good, outbox=outbox)
    state_before = state_path(state_dir).read_bytes()
    outbox_before = outbox.read_bytes()
    feed_server.feed.add(2)

    missing_page = config_for(f"{feed_server.url}/no-such-file.csv", state_dir)
    with pytest.raises(OSError, match="404"):
        collect(DemoCsvCollector, missing_page, outbox=outbox)

    feed_server.close()  # now nothing listens on the port at all
    with pytest.raises(OSError, match="refused"):
        collect(DemoCsvCollector, good, outbox=outbox)

    assert state_path(state_dir).read_bytes() == state_before
    assert outbox.read_bytes() == outbox_before


@pytest.mark.parametrize("same_time", [False, True], ids=["distinct-times", "one-time"])
def test_state_size_does_not_grow_with_the_history(tmp_path, same_time):
    sizes = {}
    for history in (100, 10_000):
        state_dir = tmp_path / f"state-{history}"
        state_dir.mkdir(mode=0o700)
        feed = DemoFeed(history=history, start=START)
        with feed.serve() as server:
            config = config_for(f"{server.url}/items.csv", state_dir)
            first = collect(DemoCsvCollector, config)
            assert published_ids(first) == list(range(1, history + 1))
            feed.add(3, same_time=same_time)  # then a run that publishes three new rows
            second = collect(DemoCsvCollector, config)
            assert published_ids(second) == [history + 1, history + 2, history + 3]
        sizes[history] = state_path(state_dir).stat().st_size
    line = (
        f"state file ({'3 new rows at one time' if same_time else '3 new rows'}): "
        f"{sizes[100]} bytes after 100 rows, {sizes[10_000]} bytes after 10000"
    )
    print(line)
    assert abs(sizes[10_000] - sizes[100]) <= 8
    # The guide quotes this line: it must be what ran.
    assert line in (ROOT / "docs" / "time-ordered-rows.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- late rows (static CSV file)


class _StaticCsvServer:
    """A real HTTP server for one directory: the whole file on every request, queries ignored."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def static_csv(tmp_path):
    directory = tmp_path / "www"
    directory.mkdir()
    server = _StaticCsvServer(directory)
    yield directory / "items.csv", f"{server.url}/items.csv"
    server.close()


def write_csv(path: Path, rows: list[tuple[int, str]]) -> None:
    lines = ["id,time,severity,title"]
    lines += [f"{number},2026-11-27T{hhmm}:00Z,low,Advisory {number}" for number, hhmm in rows]
    path.write_text("\n".join(lines) + "\n")


def rows_records(caplog, level: int) -> list[logging.LogRecord]:
    """The records of `stateful_collectors.collectors.rows` at exactly `level`."""
    return [
        r
        for r in caplog.records
        if r.name == "stateful_collectors.collectors.rows" and r.levelno == level
    ]


def test_late_rows_are_counted_logged_and_not_published(static_csv, state_dir, caplog):
    # The source filters by the time it *received* rows (here: the file holds only recent
    # rows), so a row whose own time is older than what was published can only be late.
    path, url = static_csv
    config = config_for(url, state_dir)
    write_csv(path, [(1, "20:00"), (2, "20:01"), (3, "20:02")])
    first = collect(DemoCsvCollector, config)
    assert published_ids(first) == [1, 2, 3]

    write_csv(path, [(3, "20:02"), (9, "20:01"), (4, "20:03")])  # 9 came late, at 20:01
    caplog.set_level(logging.INFO, logger="stateful_collectors.collectors.rows")
    second = collect(DemoCsvCollector, config)
    assert published_ids(second) == [4]
    assert second.state["newest_row_time"] == "2026-11-27T20:03:00Z"
    assert second.state["newest_rows"] == [4]
    (warning,) = rows_records(caplog, logging.WARNING)
    assert "DemoCsvCollector: 1 row(s) arrived late" in warning.getMessage()
    assert "not published" in warning.getMessage()


class WholeFileCsvCollector(DemoCsvCollector):
    """The same CSV, fetched whole each time (n6's default): late rows show in the count."""

    source_filters_by_time = False
    config_spec = """
        [demo_csv_collector]
        state_dir :: path
        url :: str
        row_count_mismatch_is_fatal = no :: bool
    """

    def obtain_orig_data(self):
        with urllib.request.urlopen(self.config["url"], timeout=10) as response:
            return response.read()


def test_a_whole_file_source_skips_older_rows_and_counts_late_ones(static_csv, state_dir, caplog):
    path, url = static_csv
    config = config_for(url, state_dir)
    write_csv(path, [(3, "20:02"), (2, "20:01"), (1, "20:00")])  # newest first, as many are
    first = collect(WholeFileCsvCollector, config)
    assert published_ids(first) == [1, 2, 3]  # oldest first, whatever the file's order
    assert first.state["rows_count"] == 3

    write_csv(path, [(5, "20:03"), (4, "20:03"), (3, "20:02"), (2, "20:01"), (1, "20:00")])
    caplog.set_level(logging.DEBUG, logger="stateful_collectors.collectors.rows")
    second = collect(WholeFileCsvCollector, config)
    assert published_ids(second) == [5, 4]  # equal times keep the file's order
    assert second.state["rows_count"] == 5
    assert rows_records(caplog, logging.WARNING) == []
    assert any("2 row(s) older than" in r.getMessage() for r in rows_records(caplog, logging.DEBUG))

    # Row 9 arrives late, at 20:01, with row 6 at 20:04: 7 rows where 5 + 1 were expected.
    caplog.clear()
    write_csv(
        path,
        [
            (6, "20:04"),
            (5, "20:03"),
            (4, "20:03"),
            (3, "20:02"),
            (9, "20:01"),
            (2, "20:01"),
            (1, "20:00"),
        ],
    )
    third = collect(WholeFileCsvCollector, config)
    assert published_ids(third) == [6]
    (warning,) = rows_records(caplog, logging.WARNING)
    assert warning.getMessage() == (
        "WholeFileCsvCollector: the source holds 7 row(s), 1 more than the 5 of the last run "
        "plus the 1 new one(s): rows that arrived late, older than the newest time already "
        "published, are not published"
    )

    # The source drops its two oldest rows: fewer rows than expected, said as such.
    caplog.clear()
    write_csv(
        path, [(7, "20:05"), (6, "20:04"), (5, "20:03"), (4, "20:03"), (3, "20:02"), (9, "20:01")]
    )
    fourth = collect(WholeFileCsvCollector, config)
    assert published_ids(fourth) == [7]
    (warning,) = rows_records(caplog, logging.WARNING)
    assert "holds 6 row(s), 2 fewer than the 7 of the last run plus the 1 new one(s)" in (
        warning.getMessage()
    )
    assert warning.getMessage().endswith("rows were removed from the source")


def test_row_count_mismatch_is_fatal_fails_the_run_before_publishing(
    static_csv, state_dir, tmp_path
):
    path, url = static_csv
    config = config_for(url, state_dir) + "row_count_mismatch_is_fatal = yes\n"
    outbox = tmp_path / "outbox.jsonl"
    write_csv(path, [(2, "20:01"), (1, "20:00")])
    collect(WholeFileCsvCollector, config, outbox=outbox)
    state_before = state_path(state_dir).read_bytes()

    write_csv(path, [(3, "20:02"), (2, "20:01"), (8, "20:00"), (1, "20:00")])  # 8 is late
    with pytest.raises(ValueError, match="row_count_mismatch_is_fatal is on: nothing published"):
        collect(WholeFileCsvCollector, config, outbox=outbox)
    assert state_path(state_dir).read_bytes() == state_before
    assert len(outbox.read_text().splitlines()) == 1  # the first run's message only


# ---------------------------------------------------------------- the state


def test_a_state_of_another_shape_is_refused_and_left_alone(feed_server, state_dir):
    config = config_for(f"{feed_server.url}/items.csv", state_dir)
    collect(DemoCsvCollector, config)
    path = state_path(state_dir)
    StateFile(path).save({"state_version": 2, "state": {"last_utc": "2026-11-27T20:04:00Z"}})
    before = path.read_bytes()
    with pytest.raises(StateFileError) as caught:
        collect(DemoCsvCollector, config)
    message = str(caught.value)
    assert str(path) in message
    assert "does not hold the state of a time-ordered rows collector" in message
    assert "'stateful-collectors state set examples/time_ordered_rows_collector.py" in message
    assert path.read_bytes() == before


def test_the_state_is_versioned(feed_server, state_dir):
    collect(DemoCsvCollector, config_for(f"{feed_server.url}/items.csv", state_dir))
    saved = StateFile(state_path(state_dir)).load(default=dict)
    assert saved == {
        "state_version": 2,
        "state": {
            "newest_row_time": "2026-11-27T20:04:00Z",
            "newest_rows": [5],
            "rows_count": 5,
        },
    }


def test_a_version_1_state_is_migrated_and_its_boundary_rows_are_not_published_again(state_dir):
    # What the earlier release saved after rows 1..5, rows 4 and 5 sharing 20:03.
    feed = DemoFeed(history=3, start=START)
    feed.add(2, same_time=True)
    path = state_dir / "time_ordered_rows_collector.DemoCsvCollector.pickle"
    StateFile(path).save(
        {
            "state_version": 1,
            "state": {"newest_time": "2026-11-27T20:03:00Z", "newest_row_keys": [4, 5]},
        }
    )
    with feed.serve() as server:
        config = config_for(f"{server.url}/items.csv", state_dir)
        feed.add(1)  # row 6, one step later; the feed answers rows 4, 5 and 6
        run = collect(DemoCsvCollector, config)
    assert published_ids(run) == [6]
    assert StateFile(path).load(default=dict) == {
        "state_version": 2,
        "state": {"newest_row_time": "2026-11-27T20:04:00Z", "newest_rows": [6], "rows_count": 3},
    }


# ---------------------------------------------------------------- select_new_rows itself


def test_select_new_rows_with_datetimes_in_any_order():
    def at(minute: int) -> dt.datetime:
        return dt.datetime(2026, 11, 27, 20, minute, tzinfo=dt.UTC)

    rows = [{"t": at(2), "n": "c"}, {"t": at(0), "n": "a"}, {"t": at(2), "n": "b"}]
    first = select_new_rows(rows, None, time_of=lambda r: r["t"], key_of=lambda r: r["n"])
    assert first.new_rows == [
        {"t": at(0), "n": "a"},
        {"t": at(2), "n": "c"},
        {"t": at(2), "n": "b"},
    ]
    assert first.state() == {"newest_row_time": at(2), "newest_rows": ["b", "c"], "rows_count": 3}
    rows.insert(0, {"t": at(3), "n": "d"})
    second = select_new_rows(rows, first.state(), time_of=lambda r: r["t"], key_of=lambda r: r["n"])
    assert second == RowsSelection(
        new_rows=[{"t": at(3), "n": "d"}],
        newest_row_time=at(3),
        newest_rows=["d"],
        rows_count=4,
        repeated_count=2,
        older_count=1,
    )


def test_select_new_rows_skips_lines_without_a_time_and_keeps_the_state_when_nothing_is_new():
    def time_of(line: str) -> str | None:
        return None if line.startswith("#") else line.split(",")[0]

    state = {"newest_row_time": "20:01", "newest_rows": ["20:01,x"], "rows_count": 2}
    selection = select_new_rows(["# comment", "20:00,w", "20:01,x"], state, time_of=time_of)
    assert selection.new_rows == []
    assert selection.state() == state
    assert (selection.not_rows_count, selection.older_count, selection.repeated_count) == (1, 1, 1)


def test_select_new_rows_counts_duplicate_new_rows():
    selection = select_new_rows(["10:00,a", "10:01,b", "10:01,b"], None, time_of=lambda r: r[:5])
    assert selection.new_rows == ["10:00,a", "10:01,b", "10:01,b"]
    assert selection.duplicate_count == 1


def test_a_row_whose_time_cannot_be_read_fails_the_run_naming_the_row():
    with pytest.raises(ValueError) as caught:
        select_new_rows(["20:00", "garbage"], None, time_of=lambda r: dt.time.fromisoformat(r[:5]))
    assert "while reading the time of the row 'garbage'" in caught.value.__notes__[0]


def test_times_that_cannot_be_compared_with_the_saved_one_are_a_clear_error():
    state = {"newest_row_time": "", "newest_rows": [], "rows_count": 0}
    moment = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)
    with pytest.raises(TypeError, match=r"override get_oldest_possible_row_time\(\)"):
        select_new_rows([moment], state, time_of=lambda row: row)


def test_row_digest_of_text_and_of_parsed_rows():
    assert row_digest("a,b") == row_digest(b"a,b")
    assert row_digest({"id": "1", "x": "2"}) == row_digest({"x": "2", "id": "1"})
    assert row_digest(["1", "2"]) != row_digest(["2", "1"])
    with pytest.raises(TypeError, match="override extract_row_key"):
        row_digest(object())


# ---------------------------------------------------------------- n6's defaults, n6's dialect


class LinesCollector(BaseTimeOrderedRowsCollector):
    """The smallest subclass, in n6's dialect: text lines, whole file, every default hook."""

    raw_type = "stream"
    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        url :: str
    """)

    def get_source(self, **processed_data):
        return "demo-feed.lines"

    def obtain_orig_data(self):
        with urllib.request.urlopen(self.config["url"], timeout=10) as response:
            return response.read()

    def pick_raw_row_time(self, row):
        return row.split(",")[1]

    def clean_row_time(self, raw_row_time):
        return raw_row_time if raw_row_time[:1].isdigit() else None  # the header: no row


def lines_config(state_dir: Path, url: str) -> str:
    return make_config("LinesCollector", state_dir=state_dir, url=url)


def test_the_defaults_key_rows_by_digest_and_publish_them_as_lines(state_dir):
    feed = DemoFeed(history=2, start=START)
    feed.add(2, same_time=True)
    with feed.serve() as server:
        config = lines_config(state_dir, f"{server.url}/items.csv")
        first = collect(LinesCollector, config)
        assert first.bodies == [
            b"1,2026-11-27T20:00:00Z,medium,Demo advisory 1\n"
            b"2,2026-11-27T20:01:00Z,high,Demo advisory 2\n"
            b"3,2026-11-27T20:02:00Z,low,Demo advisory 3\n"
            b"4,2026-11-27T20:02:00Z,medium,Demo advisory 4"
        ]
        assert first.messages[0].routing_key == "demo-feed.lines"
        assert first.state == {
            "newest_row_time": "2026-11-27T20:02:00Z",
            "newest_rows": sorted(
                [
                    row_digest("3,2026-11-27T20:02:00Z,low,Demo advisory 3"),
                    row_digest("4,2026-11-27T20:02:00Z,medium,Demo advisory 4"),
                ]
            ),
            "rows_count": 4,
        }
        assert collect(LinesCollector, config).messages == []


def test_n6s_dialect_adds_row_count_mismatch_is_fatal_and_state_dir():
    spec = LinesCollector.get_config_spec()
    assert spec.main_section == "LinesCollector"
    options = spec.sections["LinesCollector"].options
    assert {name: (o.converter, o.default) for name, o in options.items()} == {
        "state_dir": ("path", ""),
        "row_count_mismatch_is_fatal": ("bool", "no"),
        "url": ("str", None),
    }


def test_a_state_file_n6_wrote_is_taken_over_exactly(state_dir):
    # n6 4.x pickles {newest_row_time, newest_rows (the rows themselves), rows_count},
    # unversioned, to <state_dir>/<module>.<qualname>.pickle: this library's file name too.
    feed = DemoFeed(history=2, start=START)
    feed.add(2, same_time=True)
    path = state_dir / f"{__name__}.LinesCollector.pickle"
    n6_state = {
        "newest_row_time": "2026-11-27T20:02:00Z",
        "newest_rows": {
            "3,2026-11-27T20:02:00Z,low,Demo advisory 3",
            "4,2026-11-27T20:02:00Z,medium,Demo advisory 4",
        },
        "rows_count": 4,
    }
    path.write_bytes(pickle.dumps(n6_state, protocol=pickle.HIGHEST_PROTOCOL))
    path.chmod(0o600)
    with feed.serve() as server:
        feed.add(1, same_time=True)  # row 5, at 20:03
        run = collect(LinesCollector, lines_config(state_dir, f"{server.url}/items.csv"))
    assert run.bodies == [b"5,2026-11-27T20:03:00Z,high,Demo advisory 5"]
    assert run.state["rows_count"] == 5


@pytest.mark.parametrize("override", [None, "should_row_be_used", "extract_row_time"])
def test_the_row_time_template_gives_the_same_times_with_or_without_overrides(override):
    # A run over a big file uses the template in one function when a subclass keeps it; the
    # times must be what extract_row_time() gives, and an overriding subclass is obeyed.
    lines = [
        "",
        "   ",
        "# a comment",
        "  # x,2026-11-27T20:05:00Z,a row: the mark is not first",
        "id,time,severity,title",
        "7,2026-11-27T20:06:00Z,high,Demo advisory 7",
        "x,2026-11-27T20:07:00Z,skipped by the override",
    ]
    namespace: dict[str, object] = {}
    if override == "should_row_be_used":
        namespace["should_row_be_used"] = lambda self, row: (
            not row.startswith("x") and BaseTimeOrderedRowsCollector.should_row_be_used(self, row)
        )
    if override == "extract_row_time":
        namespace["extract_row_time"] = lambda self, row: "always"
    cls = type("Checked", (LinesCollector,), namespace)
    config = make_config("Checked", state_dir="/nonexistent", url="http://127.0.0.1:9/")
    collector = cls(config_text=config)
    times = [collector._row_time_function()(line) for line in lines]
    assert times == [collector.extract_row_time(line) for line in lines]
    expected = {
        None: [None, None, None, "2026-11-27T20:05:00Z", None, "2026-11-27T20:06:00Z",
               "2026-11-27T20:07:00Z"],
        "should_row_be_used": [None, None, None, "2026-11-27T20:05:00Z", None,
                               "2026-11-27T20:06:00Z", None],
        "extract_row_time": ["always"] * 7,
    }  # fmt: skip
    assert times == expected[override]
