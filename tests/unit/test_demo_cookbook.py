"""The demo feed's cookbook sources and their control API, over real HTTP on loopback.

What each recipe's source promises (tests/examples runs the recipes against
them), that the control API changes what it says and refuses what it cannot
take with `400` and nothing changed, and that the demo-feed command's options
reach them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stateful_collectors.demo import cookbook as demo_cookbook
from stateful_collectors.demo.cookbook import CHANNELS, MAX_CHANGE
from stateful_collectors.demo.feed import _Handler
from tests.support.cookbook import served_cookbook
from tests.support.feeds import request


def get_json(server, path: str, headers: dict | None = None):
    status, _, body = request(server, "GET", path, headers)
    assert status == 200, body
    return json.loads(body)


def test_every_cookbook_path_is_one_entry_of_the_routing_table():
    routes = set(_Handler.ROUTES)
    for name in CHANNELS:
        assert ("GET", f"/cookbook/channels/{name}.json") in routes
    assert {
        ("GET", "/cookbook/blocklist.txt"),
        ("GET", "/cookbook/blocklist.csv"),
        ("GET", "/cookbook/pages"),
        ("GET", "/cookbook/api/items"),
        ("GET", "/cookbook/ids"),
        ("GET", "/cookbook/unordered.json"),
        ("GET", "/cookbook/limited.json"),
        ("POST", "/cookbook/fault"),
    } <= routes
    assert len(demo_cookbook.ROUTES) == 14


def test_the_blocklist_changes_in_place_and_answers_304_when_it_did_not():
    with served_cookbook() as server:
        status, headers, body = request(server, "GET", "/cookbook/blocklist.txt")
        assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
        assert body.decode().splitlines() == [
            "# Demo blocklist: one host a line",
            "# Updated: 2026-11-27T20:00:00Z",
            *[f"host-{n}.blocklist.example" for n in range(1, 6)],
        ]
        etag, modified = headers["ETag"], headers["Last-Modified"]
        assert modified == "Fri, 27 Nov 2026 20:00:00 GMT"
        for conditional in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
            status, again, body = request(server, "GET", "/cookbook/blocklist.txt", conditional)
            assert (status, body, again["ETag"]) == (304, b"", etag)
        assert request(server, "GET", "/cookbook/blocklist.txt", {"If-None-Match": '"x"'})[0] == 200

        changed = get_json_post(server, "/cookbook/blocklist/change?add=2&remove=3")
        assert changed == {"hosts": 4, "updated": "2026-11-27T21:00:00Z"}
        status, headers, body = request(
            server, "GET", "/cookbook/blocklist.txt", {"If-None-Match": etag}
        )
        assert status == 200 and headers["ETag"] != etag
        assert body.decode().splitlines()[2:] == [
            f"host-{n}.blocklist.example" for n in (4, 5, 6, 7)
        ]


def get_json_post(server, path: str):
    status, _, body = request(server, "POST", path)
    assert status == 200, body
    return json.loads(body)


def test_pages_follow_an_opaque_cursor_to_the_end_and_on_as_the_feed_grows():
    with served_cookbook(history=12, page_size=5) as server:
        pages, cursor = [], None
        while True:
            page = get_json(server, "/cookbook/pages" + (f"?cursor={cursor}" if cursor else ""))
            pages.append([item["id"] for item in page["items"]])
            cursor = page["next"]
            if not page["has_more"]:
                break
        assert pages == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
        empty = get_json(server, f"/cookbook/pages?cursor={cursor}")
        assert empty == {"items": [], "next": cursor, "has_more": False}
        server.feed.add(1)
        assert [i["id"] for i in get_json(server, f"/cookbook/pages?cursor={cursor}")["items"]] == [
            13
        ]
        for bad in ("zz", "YWZ0ZXI6", "Zm9vOjE", "x" * 100, "%FF"):
            status, _, body = request(server, "GET", f"/cookbook/pages?cursor={bad}")
            assert status == 400 and body.startswith(b"bad cursor"), (bad, body)


def test_the_api_wants_the_token_and_never_says_it():
    with served_cookbook(token="sekret-1") as server:
        status, headers, body = request(server, "GET", "/cookbook/api/items")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        for wrong in ("Bearer sekret-2", "Bearer ", "Basic sekret-1", "sekret-1"):
            status, _, body = request(
                server, "GET", "/cookbook/api/items", {"Authorization": wrong}
            )
            assert status in (401, 403) and b"sekret" not in body
        items = get_json(
            server,
            "/cookbook/api/items?since=2026-11-27T20:02:00Z",
            {"Authorization": "Bearer sekret-1"},
        )
        assert [item["id"] for item in items] == [4, 5]


def test_ids_with_a_gap_and_a_late_one():
    with served_cookbook() as server:
        assert [r["id"] for r in get_json(server, "/cookbook/ids?since_id=2&limit=2")] == [3, 4]
        added = get_json_post(server, "/cookbook/ids/add?count=2&skip=3")
        assert [r["id"] for r in added] == [9, 10]
        assert get_json_post(server, "/cookbook/ids/add?id=7") == [{"id": 7, "title": "Record 7"}]
        assert [r["id"] for r in get_json(server, "/cookbook/ids?since_id=5")] == [7, 9, 10]
        assert request(server, "POST", "/cookbook/ids/add?id=7")[0] == 400  # exists
        assert [r["id"] for r in get_json_post(server, "/cookbook/ids/add")] == [11]


def test_the_unordered_snapshot_keeps_no_order_but_is_the_same_each_time():
    with served_cookbook() as server:
        first = get_json(server, "/cookbook/unordered.json")
        assert first == get_json(server, "/cookbook/unordered.json")
        assert first["generated"] == "2026-11-27T20:00:00Z"
        urls = [entry["url"] for entry in first["entries"]]
        assert sorted(urls) == [f"https://login-{n}.phish.example/" for n in range(1, 6)]
        assert urls != sorted(urls)  # no order
        changed = get_json_post(server, "/cookbook/unordered/change?add=1&remove=2&hours=30")
        assert changed == {"entries": 4, "generated": "2026-11-29T02:00:00Z"}
        back = get_json_post(server, "/cookbook/unordered/change?add=0&back=1&hours=0")
        assert back["entries"] == 5
        urls = {entry["url"] for entry in get_json(server, "/cookbook/unordered.json")["entries"]}
        assert urls == {f"https://login-{n}.phish.example/" for n in (1, 3, 4, 5, 6)}


def test_channels_have_their_own_records():
    with served_cookbook() as server:
        get_json_post(server, "/cookbook/channels/add?channel=malware&count=2")
        assert [r["id"] for r in get_json(server, "/cookbook/channels/malware.json?after=4")] == [
            5,
            6,
            7,
        ]
        assert [r["id"] for r in get_json(server, "/cookbook/channels/botnet.json?after=4")] == [5]
        assert get_json(server, "/cookbook/channels/phishing.json")[0]["title"] == (
            "Phishing record 1"
        )
        assert request(server, "GET", "/cookbook/channels/spam.json")[0] == 404
        assert request(server, "POST", "/cookbook/channels/add?channel=spam")[0] == 400


def test_the_rate_limit_answers_429_with_the_wait():
    with served_cookbook(rate_limit=2) as server:
        assert request(server, "GET", "/cookbook/limited.json")[0] == 200
        assert request(server, "GET", "/cookbook/limited.json")[0] == 200
        status, headers, _ = request(server, "GET", "/cookbook/limited.json")
        assert status == 429 and 55 <= int(headers["Retry-After"]) <= 60
    with served_cookbook(rate_limit=0) as server:
        for _ in range(100):
            assert request(server, "GET", "/cookbook/limited.json?limit=1")[0] == 200


def test_faults_are_forced_then_gone_and_counted():
    with served_cookbook() as server:
        answer = get_json_post(
            server, "/cookbook/fault?path=/cookbook/ids&status=503&count=2&retry_after=3"
        )
        assert answer == {"path": "/cookbook/ids", "status": 503, "count": 2, "skip": 0}
        for _ in range(2):
            status, headers, body = request(server, "GET", "/cookbook/ids")
            assert (status, headers["Retry-After"], body) == (
                503,
                "3",
                b"Service Unavailable (forced)\n",
            )
        assert request(server, "GET", "/cookbook/ids")[0] == 200
        get_json_post(server, "/cookbook/fault?path=/cookbook/ids&count=5")
        get_json_post(server, "/cookbook/fault?path=/cookbook/ids&count=0")  # cleared
        assert request(server, "GET", "/cookbook/ids")[0] == 200
        get_json_post(server, "/cookbook/fault?path=/cookbook/ids&skip=2&count=1&status=502")
        statuses = [request(server, "GET", "/cookbook/ids")[0] for _ in range(4)]
        assert statuses == [200, 200, 502, 200]
        get_json_post(server, "/cookbook/fault?path=/cookbook/channels/botnet.json&status=500")
        assert request(server, "GET", "/cookbook/channels/botnet.json")[0] == 500
        assert request(server, "GET", "/cookbook/channels/malware.json")[0] == 200
        assert get_json(server, "/cookbook/requests") == {
            "/cookbook/channels/botnet.json": 1,
            "/cookbook/channels/malware.json": 1,
            "/cookbook/ids": 8,
        }


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/cookbook/fault?path=/items.json", b"path must be a cookbook source"),
        ("POST", "/cookbook/fault?path=/cookbook/requests", b"path must be a cookbook source"),
        ("POST", "/cookbook/fault?path=/cookbook/ids&status=200", b"status must be"),
        ("POST", "/cookbook/fault?path=/cookbook/ids&status=600", b"status must be"),
        (
            "POST",
            f"/cookbook/fault?path=/cookbook/ids&count={MAX_CHANGE + 1}",
            b"count must be a whole number from 0 to 10000",
        ),
        ("POST", "/cookbook/fault?path=/cookbook/ids&retry_after=-1", b"retry_after must be"),
        ("POST", "/cookbook/blocklist/change?add=x", b"add must be"),
        ("POST", "/cookbook/ids/add?skip=99999999999", b"skip must be"),
        ("POST", "/cookbook/ids/add?id=0", b"id must be"),
        ("POST", "/cookbook/unordered/change?hours=-1", b"hours must be"),
        ("GET", "/cookbook/ids?limit=0", b"limit must be"),
        ("GET", "/cookbook/ids?since_id=abc", b"since_id must be"),
        ("GET", "/cookbook/channels/malware.json?after=-1", b"after must be"),
        ("GET", "/cookbook/limited.json?since=yesterday", b"bad query: 'yesterday'"),
    ],
)
def test_what_the_sources_cannot_use_gets_400_and_changes_nothing(method, path, expected):
    with served_cookbook() as server:
        before = [get_json(server, p) for p in ("/cookbook/ids", "/cookbook/unordered.json")]
        status, _, body = request(server, method, path)
        assert status == 400 and body.startswith(expected), body
        after = [get_json(server, p) for p in ("/cookbook/ids", "/cookbook/unordered.json")]
        assert after == before
        assert request(server, "GET", "/cookbook/ids")[0] == 200  # no fault left behind


def test_the_counts_are_capped():
    with served_cookbook() as server:
        get_json_post(server, f"/cookbook/fault?path=/cookbook/ids&count={MAX_CHANGE}")
        get_json_post(server, f"/cookbook/fault?path=/cookbook/ids&count={MAX_CHANGE}")
        assert len(server.cookbook.faults._pending["/cookbook/ids"]) == MAX_CHANGE


def test_the_command_line_options_reach_the_sources_and_bad_ones_are_one_line():
    from stateful_collectors.command.cli import _build_parser

    args = _build_parser().parse_args(["demo-feed"])
    assert (args.token, args.page_size, args.rate_limit) == (
        demo_cookbook.DEFAULT_TOKEN,
        demo_cookbook.DEFAULT_PAGE_SIZE,
        demo_cookbook.DEFAULT_RATE_LIMIT,
    )
    for flags, expected in [
        (["--page-size", "0"], "argument --page-size: '0' is not a page size; give a whole"),
        (["--page-size", "x"], "argument --page-size: 'x' is not a page size"),
        (["--rate-limit", "-5"], "argument --rate-limit: '-5' is not a number of requests"),
        (["--token", "a b"], "argument --token: the token must be 1 to 200 printable"),
        (["--token", ""], "argument --token: the token must be"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "stateful_collectors", "demo-feed", *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, flags
        assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr


def test_the_root_page_lists_the_cookbook_sources():
    with served_cookbook() as server:
        status, _, body = request(server, "GET", "/")
    assert status == 200
    for path in ("/cookbook/blocklist.txt", "/cookbook/pages", "/cookbook/limited.json"):
        assert path.encode() in body
