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
import threading
from pathlib import Path

import pytest
from time_ordered_rows_collector import DemoCsvCollector

from stateful_collectors import BaseTimeOrderedRowsCollector, StateFileError
from stateful_collectors.collectors.rows import RowsSelection, row_digest, select_new_rows
from stateful_collectors.demo_feed import DemoFeed
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config

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
    assert first.state == {"newest_time": "2026-11-27T20:04:00Z", "newest_row_keys": [5]}

    feed_server.feed.add(3)
    second = collect(DemoCsvCollector, config)
    assert published_ids(second) == [6, 7, 8]
    assert second.state == {"newest_time": "2026-11-27T20:07:00Z", "newest_row_keys": [8]}

    third = collect(DemoCsvCollector, config)
    assert third.messages == []
    assert third.state == second.state


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
        assert first.state == {"newest_time": "2026-11-27T20:05:00Z", "newest_row_keys": [6, 7]}

        second = collect(DemoCsvCollector, config)
        assert published_ids(second) == [8, 9]
        assert second.state == {
            "newest_time": "2026-11-27T20:05:00Z",
            "newest_row_keys": [6, 7, 8, 9],
        }

        feed.add(2, same_time=True)  # 10 and 11, both one step later
        third = collect(DemoCsvCollector, config)
        assert published_ids(third) == [10, 11]
        assert third.state["newest_row_keys"] == [10, 11]

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
    print(
        f"state file ({'3 new rows at one time' if same_time else '3 new rows'}): "
        f"{sizes[100]} bytes after 100 rows, {sizes[10_000]} bytes after 10000"
    )
    assert abs(sizes[10_000] - sizes[100]) <= 8


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
    assert second.state == {"newest_time": "2026-11-27T20:03:00Z", "newest_row_keys": [4]}
    (warning,) = rows_records(caplog, logging.WARNING)
    assert "DemoCsvCollector: 1 row(s) arrived late" in warning.getMessage()
    assert "not published" in warning.getMessage()


class WholeFileCsvCollector(DemoCsvCollector):
    """The same CSV, fetched whole each time: older rows are the ones published before."""

    source_filters_by_time = False

    def obtain_data(self, newest_time):
        return super().obtain_data(None)


def test_a_whole_file_source_skips_older_rows_quietly(static_csv, state_dir, caplog):
    path, url = static_csv
    config = config_for(url, state_dir)
    write_csv(path, [(3, "20:02"), (2, "20:01"), (1, "20:00")])  # newest first, as many are
    first = collect(WholeFileCsvCollector, config)
    assert published_ids(first) == [3, 2, 1]  # in the file's order

    write_csv(path, [(5, "20:03"), (4, "20:03"), (3, "20:02"), (2, "20:01"), (1, "20:00")])
    caplog.set_level(logging.DEBUG, logger="stateful_collectors.collectors.rows")
    second = collect(WholeFileCsvCollector, config)
    assert published_ids(second) == [5, 4]
    assert rows_records(caplog, logging.WARNING) == []
    assert any("2 row(s) older than" in r.getMessage() for r in rows_records(caplog, logging.DEBUG))


# ---------------------------------------------------------------- the state


def test_a_state_of_another_shape_is_refused_and_left_alone(feed_server, state_dir):
    config = config_for(f"{feed_server.url}/items.csv", state_dir)
    collect(DemoCsvCollector, config)
    path = state_path(state_dir)
    StateFile(path).save({"state_version": 1, "state": {"last_utc": "2026-11-27T20:04:00Z"}})
    before = path.read_bytes()
    with pytest.raises(StateFileError) as caught:
        collect(DemoCsvCollector, config)
    message = str(caught.value)
    assert str(path) in message
    assert "does not hold the state of a time-ordered rows collector" in message
    assert "'stateful-collectors state set'" in message
    assert path.read_bytes() == before


def test_the_state_is_versioned(feed_server, state_dir):
    collect(DemoCsvCollector, config_for(f"{feed_server.url}/items.csv", state_dir))
    saved = StateFile(state_path(state_dir)).load(default=dict)
    assert saved == {
        "state_version": 1,
        "state": {"newest_time": "2026-11-27T20:04:00Z", "newest_row_keys": [5]},
    }


# ---------------------------------------------------------------- select_new_rows itself


def test_select_new_rows_with_datetimes_in_any_order():
    def at(minute: int) -> dt.datetime:
        return dt.datetime(2026, 11, 27, 20, minute, tzinfo=dt.UTC)

    rows = [{"t": at(2), "n": "c"}, {"t": at(0), "n": "a"}, {"t": at(2), "n": "b"}]
    first = select_new_rows(rows, None, time_of=lambda r: r["t"], key_of=lambda r: r["n"])
    assert first.state() == {"newest_time": at(2), "newest_row_keys": ["b", "c"]}
    rows.insert(0, {"t": at(3), "n": "d"})
    second = select_new_rows(rows, first.state(), time_of=lambda r: r["t"], key_of=lambda r: r["n"])
    assert second == RowsSelection(
        new_rows=[{"t": at(3), "n": "d"}],
        newest_time=at(3),
        newest_row_keys=["d"],
        repeated_count=2,
        older_count=1,
    )


def test_select_new_rows_skips_lines_without_a_time_and_keeps_the_state_when_nothing_is_new():
    def time_of(line: str) -> str | None:
        return None if line.startswith("#") else line.split(",")[0]

    state = {"newest_time": "20:01", "newest_row_keys": ["20:01,x"]}
    selection = select_new_rows(["# comment", "20:00,w", "20:01,x"], state, time_of=time_of)
    assert selection.new_rows == []
    assert selection.state() == state
    assert (selection.not_rows_count, selection.older_count, selection.repeated_count) == (1, 1, 1)


def test_a_row_whose_time_cannot_be_read_fails_the_run_naming_the_row():
    with pytest.raises(ValueError) as caught:
        select_new_rows(["20:00", "garbage"], None, time_of=lambda r: dt.time.fromisoformat(r[:5]))
    assert "while reading the time of the row 'garbage'" in caught.value.__notes__[0]


def test_row_digest_of_text_and_of_parsed_rows():
    assert row_digest("a,b") == row_digest(b"a,b")
    assert row_digest({"id": "1", "x": "2"}) == row_digest({"x": "2", "id": "1"})
    assert row_digest(["1", "2"]) != row_digest(["2", "1"])
    with pytest.raises(TypeError, match="override extract_row_key"):
        row_digest(object())


class LinesCollector(BaseTimeOrderedRowsCollector):
    """The smallest subclass: text lines, the default key (a digest) and the default body."""

    raw_type = "stream"
    config_spec = """
        [lines]
        state_dir :: path
        url :: str
    """

    def get_source_channel(self, **processed_data):
        return "lines"

    def obtain_data(self, newest_time):
        import urllib.request

        with urllib.request.urlopen(self.config["url"], timeout=10) as response:
            return response.read().decode()

    def split_data_into_rows(self, data):
        return data.splitlines()[1:]

    def extract_row_time(self, row):
        return row.split(",")[1]


def test_the_defaults_key_rows_by_digest_and_publish_them_as_lines(state_dir):
    feed = DemoFeed(history=2, start=START)
    feed.add(2, same_time=True)
    with feed.serve() as server:
        config = make_config("lines", state_dir=state_dir, url=f"{server.url}/items.csv")
        first = collect(LinesCollector, config)
        assert first.bodies == [
            b"1,2026-11-27T20:00:00Z,medium,Demo advisory 1\n"
            b"2,2026-11-27T20:01:00Z,high,Demo advisory 2\n"
            b"3,2026-11-27T20:02:00Z,low,Demo advisory 3\n"
            b"4,2026-11-27T20:02:00Z,medium,Demo advisory 4\n"
        ]
        assert first.state["newest_row_keys"] == sorted(
            [
                row_digest("3,2026-11-27T20:02:00Z,low,Demo advisory 3"),
                row_digest("4,2026-11-27T20:02:00Z,medium,Demo advisory 4"),
            ]
        )
        assert collect(LinesCollector, config).messages == []
