r"""The demo feed's cookbook sources: one small source per recipe of the guide's Cookbook.

`stateful-collectors demo-feed` always serves them, next to `/items.json`,
each under its own path (GET):

* `/cookbook/blocklist.txt`: a blocklist that changes in place, with `ETag`
  and `Last-Modified`; `304 Not Modified` when it has not changed;
* `/cookbook/blocklist.csv`: the feed's items as a whole CSV file, newest
  first, after `#` comment lines: `first_seen,host,severity`, no id column;
* `/cookbook/pages?cursor=C`: the feed's items, `page_size` a page, as
  `{"items": [...], "next": C, "has_more": bool}`; `next` is an opaque cursor;
* `/cookbook/api/items?since=T`: the feed's items (as `/items.json`), for a
  client that sends `Authorization: Bearer TOKEN`: `401` without the header,
  `403` with another token;
* `/cookbook/ids?since_id=N&limit=L`: records whose id is above `N`, lowest first;
* `/cookbook/unordered.json`: a snapshot, in no order, `{"generated": T, "entries": [...]}`;
* `/cookbook/limited.json?since=T`: the feed's items, at most `rate_limit`
  requests a minute; beyond, `429 Too Many Requests` with `Retry-After`;
* `/cookbook/channels/NAME.json?after=N`: one channel's records (`phishing`,
  `malware`, `botnet`) whose id is above `N`;
* `/cookbook/requests`: how many requests each of those paths has answered.

Tests and pages change the sources with a small control API (POST):

* `/cookbook/blocklist/change?add=N&remove=M`: `N` new hosts, the `M` oldest gone;
* `/cookbook/ids/add?count=N&skip=K`: `N` new records after a gap of `K` ids;
  `?id=I` adds record `I` late, below ids already served;
* `/cookbook/unordered/change?add=N&remove=M&back=K&hours=H`: the snapshot's
  clock moves on `H` hours (1 by default), its `M` oldest entries leave, `N`
  new ones come, and the `K` that left first come back;
* `/cookbook/channels/add?channel=NAME&count=N`: `N` new records in a channel;
* `/cookbook/fault?path=P&status=S&count=N&retry_after=R&skip=K`: after `K`
  more requests for `P` (0 by default), the next `N` get status `S` (and
  `Retry-After: R`); `count=0` clears them.

The feed's own `POST /add?count=N` adds items to the four endpoints that
serve the feed's items (`blocklist.csv`, `pages`, `api/items`,
`limited.json`). Every count is capped, as the feed's are; the sources' times
start at the feed's first item's time and move only when told, so every
answer is the same on every run.

Example:
    ```python
    import json
    import urllib.error
    import urllib.request

    from stateful_collectors.demo import DemoFeed

    with DemoFeed(history=3, start="2026-11-27T20:00:00Z").serve() as server:
        with urllib.request.urlopen(f"{server.url}/cookbook/pages") as answer:
            page = json.load(answer)
        print([item["id"] for item in page["items"]], page["has_more"])
        #> [1, 2, 3] False
        server.cookbook.faults.add("/cookbook/ids", status=500, count=1)
        try:
            urllib.request.urlopen(f"{server.url}/cookbook/ids")
        except urllib.error.HTTPError as error:
            print(error.code, server.cookbook.requests["/cookbook/ids"])
            #> 500 1
    ```
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from email.message import Message

    _Headers = Mapping[str, str] | Message

__all__ = [
    "CHANNELS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TOKEN",
    "MAX_CHANGE",
    "CookbookSources",
    "Faults",
]

DEFAULT_TOKEN = "demo-token"
"""The token `/cookbook/api/items` accepts unless `--token` says another."""
DEFAULT_PAGE_SIZE = 10
"""Items per page of `/cookbook/pages` unless `--page-size` says otherwise."""
MAX_PAGE_SIZE = 1000
DEFAULT_RATE_LIMIT = 60
"""Requests a minute `/cookbook/limited.json` answers unless `--rate-limit` says otherwise."""
MAX_CHANGE = 10_000
"""The most entries, records or faults one control request may add (or remove)."""
CHANNELS = ("phishing", "malware", "botnet")
"""The channels of `/cookbook/channels/NAME.json`."""

_MAX_ENTRIES = 100_000  # what each source keeps at most; the oldest go first
_MAX_IDS_LIMIT = 1000
_START_COUNT = 5  # entries, records and channel records each source starts with
_JSON = "application/json"


class Refused(Exception):
    """A request a cookbook source cannot use: answered with its status (400 by default)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class Answer:
    """What a cookbook route answers: status, content type, body and extra headers."""

    __slots__ = ("status", "content_type", "body", "headers")

    def __init__(
        self,
        status: int,
        content_type: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.headers = dict(headers or {})

    @classmethod
    def json(cls, value: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return cls(HTTPStatus.OK, _JSON, json.dumps(value).encode(), headers)


def not_modified(headers: _Headers, etag: str, modified: dt.datetime | None) -> bool:
    """Whether a conditional request (`If-None-Match`, `If-Modified-Since`) gets `304`.

    `If-None-Match` wins when both are sent; a date that cannot be read gets
    the full answer.
    """
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since and modified is not None:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
            if since.tzinfo is None:  # "-0000" means UTC without saying so
                since = since.replace(tzinfo=dt.UTC)
            return modified <= since
        except Exception:  # a date the source cannot read: answer in full
            return False
    return False


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def _whole(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name, str(default)).strip()
    if not (text.isdigit() and len(text) <= 9) or not low <= int(text) <= high:
        raise Refused(f"{name} must be a whole number from {low} to {high}")
    return int(text)


class Faults:
    """Answers forced on the next requests for a path: `add(path, status=500, count=1)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # per path, what its next requests get: a (status, Retry-After), or None (the answer)
        self._pending: dict[str, collections.deque[tuple[int, int | None] | None]] = {}

    def add(
        self,
        path: str,
        *,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        skip: int = 0,
    ) -> None:
        """After `skip` more requests, the next `count` for `path` get `status`.

        `count=0` clears what is pending for the path. At most `MAX_CHANGE`
        requests of a path are planned ahead.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} is not an error status (400 to 599)")
        with self._lock:
            if count == 0:
                self._pending.pop(path, None)
                return
            pending = self._pending.setdefault(path, collections.deque())
            planned: list[tuple[int, int | None] | None] = [None] * skip
            planned += [(status, retry_after)] * count
            pending.extend(planned[: MAX_CHANGE - len(pending)])

    def take(self, path: str) -> tuple[int, int | None] | None:
        """The fault for this request of `path`, if one is due."""
        with self._lock:
            pending = self._pending.get(path)
            if not pending:
                return None
            fault = pending.popleft()
            if not pending:
                del self._pending[path]
            return fault


class _Blocklist:
    """A text file of hosts that changes in place; its time moves an hour per change."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.changes = 0
        self.hosts: collections.deque[str] = collections.deque()
        self._made = 0
        self._add(_START_COUNT)

    def _add(self, count: int) -> None:
        for _ in range(count):
            self._made += 1
            self.hosts.append(f"host-{self._made}.blocklist.example")
        while len(self.hosts) > _MAX_ENTRIES:
            self.hosts.popleft()

    def change(self, add: int, remove: int) -> None:
        for _ in range(min(remove, len(self.hosts))):
            self.hosts.popleft()
        self._add(add)
        self.changes += 1

    @property
    def updated(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.changes)

    def text(self) -> bytes:
        lines = [
            "# Demo blocklist: one host a line",
            f"# Updated: {_iso(self.updated)}",
            *self.hosts,
        ]
        return ("\n".join(lines) + "\n").encode()


class _Records:
    """Records with increasing ids; a gap or a late (lower) id when asked for."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.by_id: dict[int, dict[str, Any]] = {}
        self.top = 0

    def add(self, count: int, skip: int = 0) -> list[dict[str, Any]]:
        self.top += skip
        added = []
        for _ in range(count):
            self.top += 1
            added.append(self._put(self.top))
        return added

    def add_late(self, record_id: int) -> dict[str, Any]:
        if record_id in self.by_id:
            raise Refused(f"id {record_id} exists already")
        self.top = max(self.top, record_id)
        return self._put(record_id)

    def _put(self, record_id: int) -> dict[str, Any]:
        record = {"id": record_id, "title": f"{self.prefix} {record_id}"}
        self.by_id[record_id] = record
        if len(self.by_id) > _MAX_ENTRIES:
            del self.by_id[min(self.by_id)]
        return record

    def above(self, last_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        ids = sorted(i for i in self.by_id if i > last_id)
        return [self.by_id[i] for i in ids[:limit]]


class _Snapshot:
    """A list of entries with no order and no times, as of the source's clock."""

    def __init__(self, start: dt.datetime) -> None:
        self.clock = start
        self.listed: dict[str, dict[str, str]] = {}  # insertion order: oldest listed first
        self.gone: collections.deque[dict[str, str]] = collections.deque()
        self._made = 0
        self._add(_START_COUNT)

    def _add(self, count: int) -> None:
        for _ in range(count):
            self._made += 1
            url = f"https://login-{self._made}.phish.example/"
            self.listed[url] = {"url": url, "threat": "phishing"}

    def change(self, add: int, remove: int, back: int, hours: int) -> None:
        self.clock += dt.timedelta(hours=hours)
        for url in list(self.listed)[:remove]:
            self.gone.append(self.listed.pop(url))
        for _ in range(min(back, len(self.gone))):
            entry = self.gone.popleft()
            self.listed[entry["url"]] = entry
        self._add(add)
        while len(self.listed) > _MAX_ENTRIES:
            self.gone.append(self.listed.pop(next(iter(self.listed))))
        while len(self.gone) > _MAX_ENTRIES:
            self.gone.popleft()

    def document(self) -> dict[str, Any]:
        entries = list(self.listed.values())
        random.Random(_iso(self.clock)).shuffle(entries)  # no order, but the same each time
        return {"generated": _iso(self.clock), "entries": entries}


class _RateLimit:
    """At most `limit` requests in any 60 seconds (0: no limit)."""

    WINDOW = 60.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._times: collections.deque[float] = collections.deque()

    def retry_after(self, now: float) -> int | None:
        """`None` to answer this request, else the seconds until one is allowed."""
        if self.limit <= 0:
            return None
        while self._times and self._times[0] <= now - self.WINDOW:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return max(1, math.ceil(self._times[0] + self.WINDOW - now))
        self._times.append(now)
        return None


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    refused = Refused(
        f"bad cursor {cursor[:40]!r}; send the 'next' of the last page, or no cursor to start"
    )
    if len(cursor) > 64:
        raise refused
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise refused from None
    prefix, _, number = text.partition(":")
    if prefix != "after" or not number.isdigit():
        raise refused
    return int(number)


class FeedItems(Protocol):
    """What the sources read of the feed: its items (`stateful_collectors.demo.DemoFeed`)."""

    def items(
        self, since: str | None = None, *, inclusive: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]: ...

    def items_after(self, last_id: int, limit: int) -> list[dict[str, Any]]: ...


class Request:
    """What a cookbook route reads of a request."""

    __slots__ = ("query", "headers", "feed", "path")

    def __init__(
        self, query: Mapping[str, str], headers: _Headers, feed: FeedItems, path: str
    ) -> None:
        self.query = query
        self.headers = headers
        self.feed = feed
        self.path = path


class CookbookSources:
    """The cookbook's sources, in memory, safe to use from several threads.

    Args:
        start: the time of the sources' first version (the feed's first item's time).
        token: the token `/cookbook/api/items` accepts.
        page_size: items per page of `/cookbook/pages`.
        rate_limit: requests a minute `/cookbook/limited.json` answers (0: no limit).

    Attributes:
        faults: answers forced on the next requests for a path (`Faults`).
        requests: how many requests each cookbook path has answered (faults included).
    """

    def __init__(
        self,
        start: dt.datetime,
        *,
        token: str = DEFAULT_TOKEN,
        page_size: int = DEFAULT_PAGE_SIZE,
        rate_limit: int = DEFAULT_RATE_LIMIT,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}, not {page_size}")
        if not token:
            raise ValueError("the token cannot be empty")
        self.token = token
        self.page_size = page_size
        self.faults = Faults()
        self.requests: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._blocklist = _Blocklist(start)
        self._records = _Records("Record")
        self._records.add(_START_COUNT)
        self._snapshot = _Snapshot(start)
        self._channels = {name: _Records(f"{name.capitalize()} record") for name in CHANNELS}
        for records in self._channels.values():
            records.add(_START_COUNT)
        self._rate_limit = _RateLimit(rate_limit)

    def answer(self, method: str, request: Request) -> Answer:
        """Answer one request of a cookbook route (`ROUTES`); raises `Refused` for a bad one."""
        route = ROUTES[(method, _route_path(request.path))]
        if method == "GET" and request.path != "/cookbook/requests":
            with self._lock:
                self.requests[request.path] += 1
            fault = self.faults.take(request.path)
            if fault is not None:
                status, retry_after = fault
                headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
                phrase = _phrase(status)
                return Answer(status, "text/plain", f"{phrase} (forced)\n".encode(), headers)
        with self._lock:
            return route(self, request)

    # -- the sources (called with the lock held)

    def _blocklist_txt(self, request: Request) -> Answer:
        body = self._blocklist.text()
        etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        headers = {"ETag": etag, "Last-Modified": _http_date(self._blocklist.updated)}
        if not_modified(request.headers, etag, self._blocklist.updated):
            return Answer(HTTPStatus.NOT_MODIFIED, "", b"", headers)
        return Answer(HTTPStatus.OK, "text/plain; charset=utf-8", body, headers)

    def _blocklist_csv(self, request: Request) -> Answer:
        rows = [
            f"{item['time']},host-{item['id']}.example.net,{item['severity']}"
            for item in reversed(request.feed.items())
        ]
        lines = ["# Demo blocklist, newest first", "# first_seen,host,severity", *rows]
        return Answer(HTTPStatus.OK, "text/csv; charset=utf-8", "\n".join(lines).encode())

    def _pages(self, request: Request) -> Answer:
        cursor = request.query.get("cursor", "")
        last_id = _decode_cursor(cursor) if cursor else 0
        items = request.feed.items_after(last_id, self.page_size + 1)
        page, has_more = items[: self.page_size], len(items) > self.page_size
        next_id = page[-1]["id"] if page else last_id
        return Answer.json({"items": page, "next": _encode_cursor(next_id), "has_more": has_more})

    def _api_items(self, request: Request) -> Answer:
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Answer(
                HTTPStatus.UNAUTHORIZED,
                "text/plain",
                b"send the header 'Authorization: Bearer <token>'\n",
                {"WWW-Authenticate": 'Bearer realm="cookbook"'},
            )
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return Answer(HTTPStatus.FORBIDDEN, "text/plain", b"this token is not allowed\n")
        return Answer.json(_feed_items(request))

    def _ids(self, request: Request) -> Answer:
        since_id = _whole(request.query, "since_id", 0, 0, 10**12)
        limit = _whole(request.query, "limit", 100, 1, _MAX_IDS_LIMIT)
        return Answer.json(self._records.above(since_id, limit))

    def _unordered(self, request: Request) -> Answer:
        return Answer.json(self._snapshot.document())

    def _limited(self, request: Request) -> Answer:
        retry_after = self._rate_limit.retry_after(time.monotonic())
        if retry_after is not None:
            return Answer(
                HTTPStatus.TOO_MANY_REQUESTS,
                "text/plain",
                f"at most {self._rate_limit.limit} requests a minute\n".encode(),
                {"Retry-After": str(retry_after)},
            )
        return Answer.json(_feed_items(request))

    def _channel(self, request: Request) -> Answer:
        name = request.path.rsplit("/", 1)[1].removesuffix(".json")
        after = _whole(request.query, "after", 0, 0, 10**12)
        return Answer.json(self._channels[name].above(after))

    def _requests(self, request: Request) -> Answer:
        return Answer.json(dict(sorted(self.requests.items())))

    # -- the control API

    def _change_blocklist(self, request: Request) -> Answer:
        add = _whole(request.query, "add", 1, 0, MAX_CHANGE)
        remove = _whole(request.query, "remove", 0, 0, MAX_CHANGE)
        self._blocklist.change(add, remove)
        return Answer.json(
            {"hosts": len(self._blocklist.hosts), "updated": _iso(self._blocklist.updated)}
        )

    def _add_ids(self, request: Request) -> Answer:
        if "id" in request.query:
            return Answer.json([self._records.add_late(_whole(request.query, "id", 0, 1, 10**12))])
        count = _whole(request.query, "count", 1, 0, MAX_CHANGE)
        skip = _whole(request.query, "skip", 0, 0, MAX_CHANGE)
        return Answer.json(self._records.add(count, skip))

    def _change_unordered(self, request: Request) -> Answer:
        self._snapshot.change(
            add=_whole(request.query, "add", 1, 0, MAX_CHANGE),
            remove=_whole(request.query, "remove", 0, 0, MAX_CHANGE),
            back=_whole(request.query, "back", 0, 0, MAX_CHANGE),
            hours=_whole(request.query, "hours", 1, 0, 24 * 3650),
        )
        return Answer.json(
            {"entries": len(self._snapshot.listed), "generated": _iso(self._snapshot.clock)}
        )

    def _add_to_channel(self, request: Request) -> Answer:
        name = request.query.get("channel", "")
        if name not in self._channels:
            raise Refused(f"channel must be one of: {', '.join(CHANNELS)}")
        count = _whole(request.query, "count", 1, 0, MAX_CHANGE)
        return Answer.json(self._channels[name].add(count))

    def _add_fault(self, request: Request) -> Answer:
        path = request.query.get("path", "")
        if ("GET", _route_path(path)) not in ROUTES or path == "/cookbook/requests":
            raise Refused(
                f"path must be a cookbook source, e.g. /cookbook/pages; not {path[:60]!r}"
            )
        status = _whole(request.query, "status", 500, 400, 599)
        count = _whole(request.query, "count", 1, 0, MAX_CHANGE)
        retry_after = (
            _whole(request.query, "retry_after", 0, 0, 86400)
            if "retry_after" in request.query
            else None
        )
        skip = _whole(request.query, "skip", 0, 0, MAX_CHANGE)
        self.faults.add(path, status=status, count=count, retry_after=retry_after, skip=skip)
        return Answer.json({"path": path, "status": status, "count": count, "skip": skip})


def _feed_items(request: Request) -> list[dict[str, Any]]:
    since = request.query.get("since")
    try:
        return request.feed.items(since)
    except (ValueError, OverflowError):
        shown = (since or "")[:40]
        raise Refused(
            f"bad query: {shown!r} is not a time the feed can use; write e.g. 2026-11-27T20:00:00Z"
        ) from None


_CHANNEL_ROUTE = "/cookbook/channels/NAME.json"


def _route_path(path: str) -> str:
    """The routing table's key of `path` (every channel's path shares one entry)."""
    prefix, _, name = path.rpartition("/")
    if prefix == "/cookbook/channels" and name.removesuffix(".json") in CHANNELS:
        return _CHANNEL_ROUTE
    return path


_Route = Callable[[CookbookSources, Request], Answer]

ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/cookbook/blocklist.txt"): CookbookSources._blocklist_txt,
    ("GET", "/cookbook/blocklist.csv"): CookbookSources._blocklist_csv,
    ("GET", "/cookbook/pages"): CookbookSources._pages,
    ("GET", "/cookbook/api/items"): CookbookSources._api_items,
    ("GET", "/cookbook/ids"): CookbookSources._ids,
    ("GET", "/cookbook/unordered.json"): CookbookSources._unordered,
    ("GET", "/cookbook/limited.json"): CookbookSources._limited,
    ("GET", _CHANNEL_ROUTE): CookbookSources._channel,
    ("GET", "/cookbook/requests"): CookbookSources._requests,
    ("POST", "/cookbook/blocklist/change"): CookbookSources._change_blocklist,
    ("POST", "/cookbook/ids/add"): CookbookSources._add_ids,
    ("POST", "/cookbook/unordered/change"): CookbookSources._change_unordered,
    ("POST", "/cookbook/channels/add"): CookbookSources._add_to_channel,
    ("POST", "/cookbook/fault"): CookbookSources._add_fault,
}
"""`(method, path)` -> the method that answers it; `/cookbook/channels/NAME.json` stands
for each channel's path."""


def served_routes() -> Iterable[tuple[str, str]]:
    """Every `(method, path)` the cookbook answers, each channel's path spelt out."""
    for method, path in ROUTES:
        if path == _CHANNEL_ROUTE:
            yield from ((method, f"/cookbook/channels/{name}.json") for name in CHANNELS)
        else:
            yield method, path


def _phrase(status: int) -> str:
    """The reason phrase of `status`, or "Error" for a status without one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
