"""The demo feed, over real HTTP on loopback."""

from __future__ import annotations

import csv
import datetime as dt
import email.utils
import http.client
import io
import json
import math
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from stateful_collectors.demo.feed import DemoFeed, format_time, parse_time
from tests.support.feeds import request


def get_ids(server, query: str = "") -> list[int]:
    status, _, body = request(server, "GET", f"/items.json{query}")
    assert status == 200, body
    return [item["id"] for item in json.loads(body)]


def q(**params) -> str:
    return "?" + urllib.parse.urlencode(params)


# feed_server: 5 items, 2026-11-27T20:00:00Z .. 20:04:00Z, one a minute (tests/conftest.py)


def test_items_look_like_the_docs_say(feed_server):
    status, headers, body = request(feed_server, "GET", "/items.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    items = json.loads(body)
    assert items[1] == {
        "id": 2,
        "time": "2026-11-27T20:01:00Z",
        "severity": "high",
        "title": "Demo advisory 2",
    }
    assert [item["id"] for item in items] == [1, 2, 3, 4, 5]
    assert [item["time"] for item in items] == sorted(item["time"] for item in items)


def test_since_is_strictly_after_and_from_includes(feed_server):
    assert get_ids(feed_server, q(since="2026-11-27T20:02:00Z")) == [4, 5]
    assert get_ids(feed_server, q(**{"from": "2026-11-27T20:02:00Z"})) == [3, 4, 5]
    assert get_ids(feed_server, q(since="2026-11-27T20:02:30Z")) == [4, 5]
    assert get_ids(feed_server, q(since="2026-11-27T20:04:00Z")) == []
    assert get_ids(feed_server, q(since="2000-01-01T00:00:00Z")) == [1, 2, 3, 4, 5]


def test_since_with_an_offset_or_without_one(feed_server):
    assert get_ids(feed_server, q(since="2026-11-27T22:02:00+02:00")) == [4, 5]
    assert get_ids(feed_server, q(since="2026-11-27T20:02:00")) == [4, 5]  # naive: UTC


def test_limit(feed_server):
    assert get_ids(feed_server, q(limit=2)) == [1, 2]
    assert get_ids(feed_server, q(since="2026-11-27T20:00:00Z", limit=3)) == [2, 3, 4]
    assert get_ids(feed_server, q(limit=0)) == []
    assert get_ids(feed_server, q(limit=99)) == [1, 2, 3, 4, 5]


def test_csv(feed_server):
    status, headers, body = request(feed_server, "GET", "/items.csv" + q(since="20261127T2002Z"))
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows == [
        {
            "id": "4",
            "time": "2026-11-27T20:03:00Z",
            "severity": "medium",
            "title": "Demo advisory 4",
        },
        {"id": "5", "time": "2026-11-27T20:04:00Z", "severity": "high", "title": "Demo advisory 5"},
    ]
    _, _, everything = request(feed_server, "GET", "/items.csv")
    assert everything.decode().splitlines()[0] == "id,time,severity,title"
    assert len(everything.decode().splitlines()) == 6


def test_post_add_appends_newer_items(feed_server):
    status, _, body = request(feed_server, "POST", "/add?count=3")
    assert status == 200
    added = json.loads(body)
    assert [item["id"] for item in added] == [6, 7, 8]
    assert [item["time"] for item in added] == [
        "2026-11-27T20:05:00Z",
        "2026-11-27T20:06:00Z",
        "2026-11-27T20:07:00Z",
    ]
    assert get_ids(feed_server, q(since="2026-11-27T20:04:00Z")) == [6, 7, 8]
    _, _, one = request(feed_server, "POST", "/add")
    assert [item["id"] for item in json.loads(one)] == [9]


def test_post_add_same_time_gives_one_timestamp_and_the_next_add_is_later(feed_server):
    _, _, body = request(feed_server, "POST", "/add?count=3&same_time=1")
    times = {item["time"] for item in json.loads(body)}
    assert times == {"2026-11-27T20:05:00Z"}
    assert get_ids(feed_server, q(**{"from": "2026-11-27T20:05:00Z"})) == [6, 7, 8]
    _, _, later = request(feed_server, "POST", "/add")
    assert json.loads(later)[0]["time"] == "2026-11-27T20:06:00Z"


def test_conditional_get_with_etag(feed_server):
    status, headers, _ = request(feed_server, "GET", "/items.json")
    etag = headers["ETag"]
    status, headers, body = request(feed_server, "GET", "/items.json", {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    status, _, _ = request(feed_server, "GET", "/items.json", {"If-None-Match": '"other", ' + etag})
    assert status == 304
    request(feed_server, "POST", "/add")
    status, headers, body = request(feed_server, "GET", "/items.json", {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    assert [item["id"] for item in json.loads(body)] == [1, 2, 3, 4, 5, 6]


def test_conditional_get_with_if_modified_since(feed_server):
    _, headers, _ = request(feed_server, "GET", "/items.json")
    last_modified = headers["Last-Modified"]
    assert email.utils.parsedate_to_datetime(last_modified) == parse_time("2026-11-27T20:04:00Z")
    status, _, body = request(
        feed_server, "GET", "/items.json", {"If-Modified-Since": last_modified}
    )
    assert (status, body) == (304, b"")
    older = "Fri, 27 Nov 2026 20:03:59 GMT"
    assert request(feed_server, "GET", "/items.json", {"If-Modified-Since": older})[0] == 200
    no_zone = "Fri, 27 Nov 2026 20:04:00 -0000"  # RFC 5322's "UTC, zone unknown"
    assert request(feed_server, "GET", "/items.json", {"If-Modified-Since": no_zone})[0] == 304
    garbage = {"If-Modified-Since": "not a date"}
    assert request(feed_server, "GET", "/items.json", garbage)[0] == 200
    request(feed_server, "POST", "/add")
    assert (
        request(feed_server, "GET", "/items.json", {"If-Modified-Since": last_modified})[0] == 200
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/items.json?since=yesterday", b"bad query: "),
        ("GET", "/items.csv?since=2026-13-01", b"bad query: "),
        ("GET", "/items.json?limit=many", b"bad query: "),
        ("GET", "/items.json?limit=-1", b"bad query: limit cannot be negative"),
        ("GET", "/items.json?since=2026-11-27&from=2026-11-27", b"bad query: give since or from"),
        ("POST", "/add?count=x", b"count must be a whole number from 0 to 100000"),
        ("POST", "/add?count=-2", b"count must be a whole number"),
        ("POST", "/add?count=100001", b"count must be a whole number"),
    ],
)
def test_bad_queries_get_400_and_change_nothing(feed_server, method, path, expected):
    status, _, body = request(feed_server, method, path)
    assert status == 400
    assert body.startswith(expected)
    assert len(feed_server.feed) == 5


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("GET", "/items"), ("POST", "/x")])
def test_unknown_paths_get_404(feed_server, method, path):
    assert request(feed_server, method, path)[0] == 404


def test_the_root_page_lists_the_endpoints(feed_server):
    status, _, body = request(feed_server, "GET", "/")
    assert status == 200 and b"POST /add?count=3" in body


class CountingList(list):
    """A list that counts how many of its elements are looked at."""

    reads = 0

    def __getitem__(self, index):
        CountingList.reads += 1
        return super().__getitem__(index)


def test_items_since_looks_at_log_n_times_not_all_of_them():
    feed = DemoFeed(history=100_000, start="2026-01-01T00:00:00Z")
    feed._times = CountingList(feed._times)
    middle = feed._times[50_000]
    CountingList.reads = 0
    items = feed.items(since=middle)
    assert items[0]["id"] == 50_002 and len(items) == 49_999
    assert CountingList.reads <= 2 * math.ceil(math.log2(100_000)) + 2  # 36, against 100,000
    CountingList.reads = 0
    assert feed.items(since=middle, inclusive=True, limit=3)[0]["id"] == 50_001
    assert CountingList.reads <= 2 * math.ceil(math.log2(100_000)) + 2


def test_add_live_never_goes_back_in_time():
    feed = DemoFeed(history=2, start="2999-01-01T00:00:00Z")  # items in the future
    item = feed.add_live()
    assert item["time"] == "2999-01-01T00:02:00Z"
    now = DemoFeed(history=0)
    assert parse_time(now.add_live()["time"]) >= dt.datetime.now(dt.UTC).replace(
        microsecond=0
    ) - dt.timedelta(seconds=2)


def test_format_and_parse_time_round_trip():
    moment = parse_time("2026-11-27T21:00:00+01:00")
    assert format_time(moment) == "2026-11-27T20:00:00Z"
    assert parse_time(format_time(moment)) == moment


def test_the_demo_feed_command_serves_and_adds_items_until_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "stateful_collectors", "demo-feed", "--port", "0"]
        + ["--history", "2", "--interval", "0.2", "--start", "2026-11-27T20:00:00Z"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("demo feed with 2 items at http://127.0.0.1:")
        url = urllib.parse.urlsplit(banner.split(" at ")[1].split(" ")[0])
        assert process.stdout.readline().startswith("new item 3 at ")
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request("GET", "/items.json")
        ids = [item["id"] for item in json.loads(connection.getresponse().read())]
        connection.close()
        assert ids[:3] == [1, 2, 3]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# ---------------------------------------------------------------- no request makes it fall over


def still_serves(server) -> None:
    assert get_ids(server, "?limit=1") == [1]


@pytest.mark.parametrize(
    ("query", "status", "ids"),
    [
        ("?since=0001-01-01T00:00:00Z", 200, [1, 2, 3, 4, 5]),
        ("?since=9999-12-31T23:59:59Z", 200, []),
        ("?from=9999-12-31T23:59:59.999999Z", 200, []),
        ("?since=9999-12-31T23:59:59-01:00", 400, None),
        ("?since=0001-01-01T00:00:00%2B01:00", 400, None),
        ("?since=0001-01-01T00:00:00%2B23:59", 400, None),
        ("?since=" + "9" * 5000, 400, None),
        ("?limit=" + "9" * 5000, 400, None),
        ("?limit=99999999999999999999", 200, [1, 2, 3, 4, 5]),
        ("?limit=0x10", 400, None),
        ("?since=%00%ff%fe", 400, None),
        ("?" + "&".join(f"k{i}=v" for i in range(100)), 400, None),
    ],
)
def test_no_query_value_makes_it_crash_or_drop_the_request(feed_server, query, status, ids):
    got, headers, body = request(feed_server, "GET", f"/items.json{query}")
    assert got == status, body
    if ids is not None:
        assert [item["id"] for item in json.loads(body)] == ids
    else:
        assert body.startswith(b"bad query: ")
    still_serves(feed_server)


@pytest.mark.parametrize(
    "header",
    [
        {"If-Modified-Since": "Fri, 31 Dec 9999 23:59:59 -2359"},
        {"If-Modified-Since": "garbage"},
        {"If-Modified-Since": "Mon, 01 Jan 0001 00:00:00 +2359"},
    ],
)
def test_odd_conditional_headers_get_a_full_answer(feed_server, header):
    status, _, body = request(feed_server, "GET", "/items.json", headers=header)
    assert status in (200, 304)
    still_serves(feed_server)


def raw_exchange(server, data: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes, read until the server closes: the whole answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_body_is_read_and_a_big_one_is_refused_with_413(feed_server):
    body = b"x" * 10_000
    answer = raw_exchange(
        feed_server, b"POST /add?count=1 HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + body
    )
    assert answer.startswith(b"HTTP/1.0 200 ")
    too_big = 1 << 20
    with socket.create_connection((feed_server.host, feed_server.port), timeout=30) as connection:
        connection.sendall(f"POST /add HTTP/1.1\r\nContent-Length: {too_big}\r\n\r\n".encode())
        connection.sendall(b"y" * 200_000)  # the client is still sending when it is refused
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.0 413 "), answer[:80]
    assert len(feed_server.feed) == 6  # the refused request added nothing
    still_serves(feed_server)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /add HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"400"),
        (b"POST /add HTTP/1.1\r\nContent-Length: lots\r\n\r\n", b"400"),
        (b"POST /add HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
    ],
)
def test_a_body_it_cannot_measure_is_refused(feed_server, head, status):
    assert raw_exchange(feed_server, head).startswith(b"HTTP/1.0 " + status)
    assert len(feed_server.feed) == 5
    still_serves(feed_server)


def test_an_idle_connection_is_closed():
    feed = DemoFeed(history=1, start="2026-11-27T20:00:00Z")
    with feed.serve(idle_timeout=0.5) as server:
        started = time.monotonic()
        with socket.create_connection((server.host, server.port), timeout=30) as connection:
            assert connection.recv(1) == b""  # closed by the feed, having said nothing
        assert time.monotonic() - started < 10
        still_serves(server)


def test_the_feed_keeps_its_newest_items_and_ids_keep_counting():
    feed = DemoFeed(history=8, start="2026-11-27T20:00:00Z", max_items=10)
    added = feed.add(5)
    assert [item["id"] for item in added] == [9, 10, 11, 12, 13]
    assert [item["id"] for item in feed.items()] == list(range(4, 14))
    etag_before = feed.version()[0]
    feed.add(1)
    assert feed.version()[0] != etag_before  # still changes once the feed is full


def test_adding_past_the_end_of_the_calendar_is_refused_and_adds_nothing(feed_server):
    feed = DemoFeed(history=1, start="9999-12-31T23:58:00Z")
    with feed.serve() as server:
        status, _, body = request(server, "POST", "/add?count=5")
        assert status == 400 and body.startswith(b"cannot add: the feed's times would pass")
        assert len(feed) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--port", "99999"],
            "argument --port: '99999' is not a port number; give a whole "
            "number from 0 to 65535 (0: any free port)",
        ),
        (["--port", "http"], "argument --port: 'http' is not a port number"),
        (
            ["--interval", "nan"],
            "argument --interval: 'nan' is not a number of seconds; give "
            "one from 0 (no new items) to 86400",
        ),
        (["--interval", "-1"], "argument --interval: '-1' is not a number of seconds"),
        (
            ["--history", "-1"],
            "argument --history: '-1' is not a number of items; give a whole "
            "number from 0 to 200000",
        ),
        (["--history", "10000000"], "argument --history: '10000000' is not a number of items"),
        (
            ["--start", "9999-12-31T23:59:00Z"],
            "--start '9999-12-31T23:59:00Z' leaves no room for "
            "20 items before the end of year 9999; give an earlier time",
        ),
    ],
)
def test_bad_flags_are_usage_errors_with_the_right_hint(args, expected):
    result = subprocess.run(
        [sys.executable, "-m", "stateful_collectors", "demo-feed", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert expected in result.stderr


def test_new_endpoints_are_one_entry_in_the_routing_table():
    from stateful_collectors.demo.feed import _Handler

    assert {("GET", "/items.json"), ("GET", "/items.csv"), ("POST", "/add")} <= set(_Handler.ROUTES)
