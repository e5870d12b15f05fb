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
* `/cookbook/...`: one small source per recipe of the guide's Cookbook (a
  blocklist that changes in place, cursor pages, an API with a token...) and
  the control API that changes them; see `stateful_collectors.demo.cookbook`.

Every reader runs it, so it takes any request without falling over: a query
it cannot use gets `400 Bad Request` (times near either end of the calendar
included), a connection idle for 10 seconds is closed, a request body is read
and may hold at most 64 KiB (`413` beyond), one `POST /add` creates at most
100,000 items, and the feed keeps the newest 200,000 (older ones are dropped).
New endpoints are one entry each in the handler's routing table (`ROUTES`).

Each item looks like
`{"id": 7, "time": "2026-11-27T20:07:00Z", "severity": "high", "title": "Demo advisory 7"}`;
ids count up from 1 and times never go backwards.

Example:
    ```python
    import json
    import urllib.request

    from stateful_collectors.demo import DemoFeed

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
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from stateful_collectors.demo.cookbook import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TOKEN,
    CookbookSources,
    Refused,
    Request,
    not_modified,
    served_routes,
)
from stateful_collectors.runtime import output

__all__ = ["DemoFeed", "FeedServer"]

_SEVERITIES = ("low", "medium", "high")
MAX_ADD = 100_000
"""The most items one `POST /add` may create."""
MAX_ITEMS = 200_000
"""The most items the feed keeps; adding more drops the oldest."""
MAX_BODY_BYTES = 64 * 1024
"""The largest request body the feed reads (it uses none; `413` beyond)."""
IDLE_TIMEOUT = 10.0
"""Seconds a connection may stay silent before the feed closes it."""


def format_time(moment: dt.datetime) -> str:
    """`2026-11-27T20:00:00Z`: UTC, whole seconds (such strings sort like the times).

    Raises `OverflowError` for a time that is not in years 1 to 9999 once in UTC.
    """
    utc = moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat() + "Z"


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
        max_items: how many items the feed keeps (`MAX_ITEMS`); the oldest go first.
    """

    def __init__(
        self,
        history: int = 20,
        *,
        start: str | dt.datetime | None = None,
        step: dt.timedelta = dt.timedelta(minutes=1),
        max_items: int = MAX_ITEMS,
    ) -> None:
        if isinstance(start, str):
            start = parse_time(start)
        if start is None:
            start = dt.datetime.now(dt.UTC).replace(microsecond=0) - step * history
        self.start = start
        """The time of item 1 (also where the cookbook sources' clocks start)."""
        self.step = step
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._times: list[str] = []
        self._added = 0  # items ever added: the last id, and the ETag
        self._next_time = start
        self.add(history)

    def add(self, count: int = 1, *, same_time: bool = False) -> list[dict[str, Any]]:
        """Append `count` new items (all with one timestamp if `same_time`); return them.

        The feed keeps the newest `max_items`: older ones are dropped. Raises
        `ValueError` (adding nothing) when the items' times would pass the end
        of year 9999.
        """
        added = []
        with self._lock:
            moment = self._next_time
            try:
                times = [
                    format_time(moment + (0 * self.step if same_time else i * self.step))
                    for i in range(count)
                ]
                next_time = moment + self.step * (1 if same_time else count) if count else moment
            except OverflowError:
                raise ValueError("the feed's times would pass the end of year 9999") from None
            for when in times:
                self._added += 1
                number = self._added
                item: dict[str, Any] = {
                    "id": number,
                    "time": when,
                    "severity": _SEVERITIES[number % len(_SEVERITIES)],
                    "title": f"Demo advisory {number}",
                }
                self._items.append(item)
                self._times.append(when)
                added.append(item)
            excess = len(self._items) - self.max_items
            if excess > 0:
                del self._items[:excess]
                del self._times[:excess]
            self._next_time = next_time
        return added[-self.max_items :]

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
                key = format_time(parse_time(since))  # ValueError, OverflowError: caller's
                find = bisect.bisect_left if inclusive else bisect.bisect_right
                start = find(self._times, key)
            end = len(self._items) if limit is None else min(len(self._items), start + limit)
            return list(self._items[start:end])

    def items_after(self, last_id: int, limit: int) -> list[dict[str, Any]]:
        """At most `limit` items whose id is greater than `last_id`, lowest id first."""
        with self._lock:
            if not self._items:
                return []
            first_id = self._items[0]["id"]  # ids count up by one: an item's index follows
            start = max(0, last_id - first_id + 1)
            return list(self._items[start : start + limit])

    def __len__(self) -> int:
        return len(self._items)

    def version(self) -> tuple[str, str | None]:
        """An ETag and the newest item's time: they change whenever an item is added."""
        with self._lock:
            newest = self._times[-1] if self._times else None
            return f'"{self._added}"', newest

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        cookbook: CookbookSources | None = None,
    ) -> FeedServer:
        """Start serving in a background thread (port 0 picks a free port).

        A connection that stays silent for `idle_timeout` seconds is closed.
        `cookbook` serves the `/cookbook/...` sources (default: new ones, with
        their default token, page size and rate limit).
        """
        return FeedServer(self, host, port, idle_timeout=idle_timeout, cookbook=cookbook)


class FeedServer:
    """A running demo feed; use as a context manager, or call `close()`.

    Attributes:
        feed: the items (`DemoFeed`).
        cookbook: the cookbook's sources (`CookbookSources`).
    """

    def __init__(
        self,
        feed: DemoFeed,
        host: str,
        port: int,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        cookbook: CookbookSources | None = None,
    ) -> None:
        self.feed = feed
        self.cookbook = cookbook if cookbook is not None else CookbookSources(feed.start)
        handler = type(
            "BoundHandler",
            (_Handler,),
            {"feed": feed, "cookbook": self.cookbook, "timeout": idle_timeout},
        )
        self._server = _QuietServer((host, port), handler)
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


class _QuietServer(ThreadingHTTPServer):
    """The HTTP server, without a traceback on stderr when a client goes away mid-answer."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request whose client vanished: nothing to answer, nothing to print."""


class _BadRequest(Exception):
    """A request the feed cannot use: answered with 400 (or the status given)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


_Route = Callable[["_Handler", dict[str, str]], None]


class _Handler(BaseHTTPRequestHandler):
    """Answers every request: a route's answer, 400, 404, 413, or 500 at worst; never a drop."""

    feed: DemoFeed
    cookbook: CookbookSources
    server_version = "stateful-collectors-demo-feed/1"
    timeout = IDLE_TIMEOUT  # a connection silent this long is closed (socketserver applies it)
    ROUTES: ClassVar[dict[tuple[str, str], _Route]] = {}
    """`(method, path)` -> the method that answers it (filled in below the class)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Stay quiet: no line per request (`demo-feed` prints one per new item instead)."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer("POST")

    def _answer(self, method: str) -> None:
        try:
            self._read_body()
            url = urllib.parse.urlsplit(self.path)
            try:
                query = dict(urllib.parse.parse_qsl(url.query, max_num_fields=20))
            except ValueError as exc:
                raise _BadRequest(f"bad query: {exc}") from None
            route = self.ROUTES.get((method, url.path))
            if route is None:
                hint = "try POST /add" if method == "POST" else "try /items.json or /"
                self._send(HTTPStatus.NOT_FOUND, "text/plain", f"not found; {hint}\n".encode())
                return
            route(self, query)
        except (_BadRequest, Refused) as exc:
            self._send(exc.status, "text/plain", f"{exc}\n".encode())
        except OSError:  # the client went away: nobody to answer
            self.close_connection = True
        except Exception as exc:  # a bug of the feed: still an answer, not a dropped request
            message = f"internal error: {type(exc).__name__}\n".encode()
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", message)

    def _read_body(self) -> None:
        """Read (and drop) the request's body, at most `MAX_BODY_BYTES`."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _BadRequest("send the body with a Content-Length", HTTPStatus.LENGTH_REQUIRED)
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit() or len(length_text) > 18:
            self.close_connection = True
            raise _BadRequest(f"bad Content-Length: {length_text[:40]!r}")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _BadRequest(
                f"the body holds {length} bytes; the feed reads at most {MAX_BODY_BYTES}",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                raise ConnectionError("the client closed the connection mid-body")
            length -= len(chunk)

    # -- the routes

    def _get_help(self, query: dict[str, str]) -> None:
        self._send(HTTPStatus.OK, "text/plain; charset=utf-8", _HELP.encode())

    def _get_items(self, query: dict[str, str]) -> None:
        etag, newest = self.feed.version()
        if self._not_modified(etag, newest):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        items = self._query_items(query)
        if urllib.parse.urlsplit(self.path).path == "/items.json":
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
            raise _BadRequest("bad query: give since or from, not both")
        since = query.get("since", query.get("from"))
        limit = None
        if "limit" in query:
            text = query["limit"].strip()
            if not text.lstrip("-").isdigit() or len(text) > 30:
                raise _BadRequest(f"bad query: limit {text[:40]!r} is not a whole number")
            limit = int(text)
            if limit < 0:
                raise _BadRequest("bad query: limit cannot be negative")
        try:
            return self.feed.items(since, inclusive="from" in query, limit=limit)
        except (ValueError, OverflowError) as exc:
            shown = since[:40] if since is not None else ""
            raise _BadRequest(
                f"bad query: {shown!r} is not a time the feed can use ({exc}); "
                "write e.g. 2026-11-27T20:00:00Z"
            ) from None

    def _cookbook(self, query: dict[str, str]) -> None:
        """A cookbook source, or its control API: `stateful_collectors.demo.cookbook`."""
        path = urllib.parse.urlsplit(self.path).path
        answer = self.cookbook.answer(self.command, Request(query, self.headers, self.feed, path))
        if answer.status == HTTPStatus.NOT_MODIFIED:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        self._send(HTTPStatus(answer.status), answer.content_type, answer.body, answer.headers)

    def _post_add(self, query: dict[str, str]) -> None:
        text = query.get("count", "1").strip()
        count = int(text) if text.isdigit() and len(text) <= 7 else -1
        if not 0 <= count <= MAX_ADD:
            raise _BadRequest(f"count must be a whole number from 0 to {MAX_ADD}")
        same_time = query.get("same_time") in ("1", "true", "yes")
        try:
            added = self.feed.add(count, same_time=same_time)
        except ValueError as exc:
            raise _BadRequest(f"cannot add: {exc}") from None
        self._send(HTTPStatus.OK, "application/json", json.dumps(added).encode())

    # -- helpers

    def _not_modified(self, etag: str, newest: str | None) -> bool:
        return not_modified(self.headers, etag, parse_time(newest) if newest else None)

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
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if self.close_connection:
            _drain(self.connection)


_Handler.ROUTES.update(
    {
        ("GET", "/"): _Handler._get_help,
        ("GET", "/index.html"): _Handler._get_help,
        ("GET", "/items.json"): _Handler._get_items,
        ("GET", "/items.csv"): _Handler._get_items,
        ("POST", "/add"): _Handler._post_add,
        # the cookbook's sources and their control API, one entry per path
        **dict.fromkeys(served_routes(), _Handler._cookbook),
    }
)


def _drain(connection: socket.socket, limit: int = 16 * MAX_BODY_BYTES) -> None:
    """Before closing: read what the client still sends (briefly), so the answer reaches it.

    Closing a socket with unread data resets the connection, and the client may
    then lose the answer it was sent (`413`, say).
    """
    try:
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(1.0)
        while limit > 0:
            chunk = connection.recv(65536)
            if not chunk:
                break
            limit -= len(chunk)
    except OSError:
        pass


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

The Cookbook's sources (POST /cookbook/... changes them: see the guide):
GET  /cookbook/blocklist.txt                  a file that changes in place (ETag, 304)
GET  /cookbook/blocklist.csv                  the items as a CSV file, newest first
GET  /cookbook/pages?cursor=...               the items, a page at a time
GET  /cookbook/api/items?since=...            the items, for Authorization: Bearer TOKEN
GET  /cookbook/ids?since_id=7                 records with an id above 7
GET  /cookbook/unordered.json                 a snapshot, in no order
GET  /cookbook/limited.json?since=...         the items, rate-limited (429, Retry-After)
GET  /cookbook/channels/malware.json?after=3  one channel's records (phishing, botnet too)
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
    *,
    token: str = DEFAULT_TOKEN,
    page_size: int = DEFAULT_PAGE_SIZE,
    rate_limit: int = DEFAULT_RATE_LIMIT,
) -> int:
    """Serve a feed until Ctrl+C, adding one item every `interval` seconds (0: never).

    `token`, `page_size` and `rate_limit` tune the cookbook's sources
    (`stateful_collectors.demo.cookbook.CookbookSources`).
    """
    feed = DemoFeed(min(history, MAX_ITEMS), start=start)
    cookbook = CookbookSources(feed.start, token=token, page_size=page_size, rate_limit=rate_limit)
    with feed.serve(host, port, cookbook=cookbook) as server:
        output.show(
            f"demo feed with {len(feed)} items at {server.url}/items.json "
            f"({f'a new item every {interval:g} s' if interval else 'no new items'}); "
            "Ctrl+C stops it"
        )
        try:
            if interval > 0:
                for _ in _ticks(interval):
                    item = feed.add_live()
                    output.show(f"new item {item['id']} at {item['time']}")
            else:
                threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0
