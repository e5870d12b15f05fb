r"""A small HTTP feed of timestamped items, for the guide's collectors to fetch from.

Run it with `stateful-collectors demo-feed --port 8808`, or start it from Python
(tests and docs do) with `DemoFeed(...).serve()`.

Endpoints (all GET unless noted):

* `/items.json?since=T`: a JSON array of the items whose `time` is strictly
  after `T` (ISO 8601, e.g. `2026-11-27T20:00:00Z`), oldest first; all items
  without `since`. `from=T` instead includes items *at* `T` too. `limit=N`
  returns only the first N.
* `/items.csv?since=T`: the same rows as CSV (`id,time,severity,title`).
* `POST /add?count=N`: add N new items now (what the live mode does every
  `--interval` seconds); `&same_time=1` gives them all one timestamp.
* Conditional GET: responses carry `ETag` and `Last-Modified`; a request with a
  matching `If-None-Match` or a recent enough `If-Modified-Since` gets
  `304 Not Modified` with no body.

Each item looks like
`{"id": 7, "time": "2026-11-27T20:07:00Z", "severity": "high", "title": "Demo advisory 7"}`;
ids count up from 1 and times never go backwards.

Example:
    ```python
    import json
    import urllib.request

    from stateful_collectors.demo_feed import DemoFeed

    feed = DemoFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        url = f"{server.url}/items.json?since=2026-11-27T20:00:00Z"
        with urllib.request.urlopen(url) as response:
            print([item["id"] for item in json.load(response)])
            #> [2, 3]
    ```
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import email.utils
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DemoFeed", "FeedServer", "format_time", "parse_time", "serve_forever"]

_SEVERITIES = ("low", "medium", "high")
_MAX_ADD = 100_000  # items one POST /add may create


def format_time(moment: dt.datetime) -> str:
    """`2026-11-27T20:00:00Z`: UTC, whole seconds (such strings sort like the times)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 time; a time without offset is taken as UTC."""
    moment = dt.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class DemoFeed:
    """The items of the feed, in memory, safe to use from several threads.

    Args:
        history: how many items exist from the start.
        start: the time of item 1 (default: `history` steps before now).
        step: the time between two consecutive items.
    """

    def __init__(
        self,
        history: int = 20,
        *,
        start: str | dt.datetime | None = None,
        step: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        if isinstance(start, str):
            start = parse_time(start)
        if start is None:
            start = dt.datetime.now(dt.UTC).replace(microsecond=0) - step * history
        self.step = step
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._times: list[str] = []
        self._next_time = start
        self.add(history)

    def add(self, count: int = 1, *, same_time: bool = False) -> list[dict[str, Any]]:
        """Append `count` new items (all with one timestamp if `same_time`); return them."""
        added = []
        with self._lock:
            moment = self._next_time
            for _ in range(count):
                number = len(self._items) + 1
                item: dict[str, Any] = {
                    "id": number,
                    "time": format_time(moment),
                    "severity": _SEVERITIES[number % len(_SEVERITIES)],
                    "title": f"Demo advisory {number}",
                }
                self._items.append(item)
                self._times.append(item["time"])
                added.append(item)
                if not same_time:
                    moment += self.step
            self._next_time = moment + self.step if same_time and count else moment
        return added

    def add_live(self) -> dict[str, Any]:
        """Append one item stamped with the current time (never earlier than the last)."""
        with self._lock:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            self._next_time = max(self._next_time, now)
        return self.add(1)[0]

    def items(
        self, since: str | None = None, *, inclusive: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Items newer than `since` (or at it too, if `inclusive`), oldest first."""
        with self._lock:
            if since is None:
                start = 0
            else:
                key = format_time(parse_time(since))
                find = bisect.bisect_left if inclusive else bisect.bisect_right
                start = find(self._times, key)
            end = len(self._items) if limit is None else min(len(self._items), start + limit)
            return list(self._items[start:end])

    def __len__(self) -> int:
        return len(self._items)

    def version(self) -> tuple[str, str | None]:
        """An ETag and the newest item's time: they change whenever an item is added."""
        with self._lock:
            newest = self._times[-1] if self._times else None
            return f'"{len(self._items)}"', newest

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> FeedServer:
        """Start serving in a background thread (port 0 picks a free port)."""
        return FeedServer(self, host, port)


class FeedServer:
    """A running demo feed; use as a context manager, or call `close()`."""

    def __init__(self, feed: DemoFeed, host: str, port: int) -> None:
        self.feed = feed
        handler = type("BoundHandler", (_Handler,), {"feed": feed})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host, self.port = str(self._server.server_address[0]), self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so close() returns at once, not after 0.5 s
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    feed: DemoFeed
    server_version = "stateful-collectors-demo-feed/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Stay quiet: no line per request (`demo-feed` prints one per new item instead)."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/plain; charset=utf-8", _HELP.encode())
            return
        if url.path not in ("/items.json", "/items.csv"):
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found; try /items.json\n")
            return
        etag, newest = self.feed.version()
        if self._not_modified(etag, newest):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        try:
            items = self._query_items(query)
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", f"bad query: {exc}\n".encode())
            return
        if url.path == "/items.json":
            body = json.dumps(items).encode()
            content_type = "application/json"
        else:
            body = _to_csv(items).encode()
            content_type = "text/csv; charset=utf-8"
        headers = {"ETag": etag}
        if newest:
            headers["Last-Modified"] = email.utils.format_datetime(parse_time(newest), usegmt=True)
        self._send(HTTPStatus.OK, content_type, body, headers)

    def _query_items(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if "since" in query and "from" in query:
            raise ValueError("give since or from, not both")
        since = query.get("since", query.get("from"))
        limit = None
        if "limit" in query:
            limit = int(query["limit"])
            if limit < 0:
                raise ValueError("limit cannot be negative")
        return self.feed.items(since, inclusive="from" in query, limit=limit)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/add":
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found; try POST /add\n")
            return
        try:
            count = int(query.get("count", "1"))
        except ValueError:
            count = -1
        if not 0 <= count <= _MAX_ADD:
            message = f"count must be a whole number from 0 to {_MAX_ADD}\n"
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", message.encode())
            return
        added = self.feed.add(count, same_time=query.get("same_time") in ("1", "true", "yes"))
        self._send(HTTPStatus.OK, "application/json", json.dumps(added).encode())

    def _not_modified(self, etag: str, newest: str | None) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [tag.strip() for tag in if_none_match.split(",")]
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since and newest:
            try:
                since = email.utils.parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:  # "-0000" means UTC without saying so
                since = since.replace(tzinfo=dt.UTC)
            return parse_time(newest) <= since
        return False

    def _send(
        self,
        status: HTTPStatus,
        content_type: str,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _to_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = ["id", "time", "severity", "title"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return out.getvalue()


_HELP = """stateful-collectors demo feed

GET  /items.json?since=2026-11-27T20:00:00Z   items newer than a time (JSON array)
GET  /items.csv?since=...                     the same as CSV
GET  /items.json?from=...                     items at or after a time
POST /add?count=3                             add three new items now
"""


def _ticks(interval: float) -> Iterator[None]:
    while True:
        time.sleep(interval)
        yield None


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8808,
    history: int = 20,
    interval: float = 10.0,
    start: dt.datetime | None = None,
) -> int:
    """Serve a feed until Ctrl+C, adding one item every `interval` seconds (0: never)."""
    feed = DemoFeed(history, start=start)
    with feed.serve(host, port) as server:
        print(
            f"demo feed with {len(feed)} items at {server.url}/items.json "
            f"({f'a new item every {interval:g} s' if interval else 'no new items'}); "
            "Ctrl+C stops it",
            flush=True,
        )
        try:
            if interval > 0:
                for _ in _ticks(interval):
                    item = feed.add_live()
                    print(f"new item {item['id']} at {item['time']}", flush=True)
            else:
                threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0
