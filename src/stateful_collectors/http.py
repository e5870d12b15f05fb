r"""Downloading with a bound on the whole download: `fetch(url)`.

`urllib.request.urlopen(url, timeout=30)` limits each network operation (the
connection, one read), not the download: a source that sends its answer one
byte every two seconds keeps the run going for ever. The run holds its lock
all that time, so every later run of the collector exits with "already
running", and nothing is collected until a person looks. `fetch()` bounds the
whole download instead:

* in time: `timeout` seconds from the call to the last byte, whatever the
  source does (a watchdog closes the connection when they are up); and never
  past the run's own deadline (`stateful_collectors.runtime.interrupts`);
* in size: at most `max_bytes` bytes of body.

Each failure is one `DownloadError` (exit status 1: the next run tries again)
naming the URL and the limit, and saying whether another attempt may succeed
(`retryable`: a network failure, a timeout, `429`, `5xx`; not `404` or an
answer too large); `BaseDownloadingCollector` retries those. An answer with
an error status (404, 500...) is a `DownloadError` too, with its `status`;
`304 Not Modified` is not an error, but an answer with status 304 and no body,
for conditional requests.
It sends a GET request unless told another method and a body (`method`,
`data`). Only `http:` and `https:` URLs are fetched (HTTPS certificates are checked),
redirects are followed, and the proxy variables (`https_proxy`...) are used.

It uses the standard library only and is imported only by the collectors that
use it.

Example:
    ```python
    from stateful_collectors.demo import DemoFeed
    from stateful_collectors.errors import DownloadError
    from stateful_collectors.http import fetch

    with DemoFeed(history=3, start="2026-11-27T20:00:00Z").serve() as server:
        response = fetch(f"{server.url}/items.json?since=2026-11-27T20:01:00Z")
        print(response.status, response.headers["Content-Type"], response.body[:31])
        #> 200 application/json b'[{"id": 3, "time": "2026-11-27T'
        again = fetch(
            f"{server.url}/items.json",
            headers={"If-None-Match": response.headers["ETag"]},
        )
        print(again.status, again.body)
        #> 304 b''
        try:
            fetch(f"{server.url}/items.json", max_bytes=100)
        except DownloadError as error:
            print(*str(error).split(": ", 1)[1].split("; "), sep="\n")
            #> the answer is larger than 100 bytes (max_bytes)
            #> raise max_bytes if the source really sends that much
    ```
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import Message
from typing import Any

from stateful_collectors.errors import DeadlineExceeded, DownloadError, describe_exception
from stateful_collectors.runtime import interrupts

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "RETRYABLE_STATUSES", "Response", "fetch"]

DEFAULT_TIMEOUT = 30.0
"""Seconds a whole download may take, by default."""
DEFAULT_MAX_BYTES = 64 << 20
"""The largest body `fetch` accepts by default (64 MiB)."""

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Error statuses another attempt may not meet (`DownloadError.retryable`): a timeout,
too many requests, a server error or an unreachable upstream. `401`, `403` and `404`
are not among them: asking again gets the same answer."""

_CHUNK = 65536


class Response:
    """What `fetch()` got: the status, the headers and the whole body."""

    __slots__ = ("status", "headers", "body", "url")

    def __init__(self, status: int, headers: Message, body: bytes, url: str) -> None:
        self.status = status
        """The HTTP status: 200, or 304 for a conditional request that found nothing new."""
        self.headers = headers
        """The response headers; `headers["ETag"]` and `headers.get("etag")` alike."""
        self.body = body
        """The whole body (empty for 304)."""
        self.url = url
        """The URL of the answer, after any redirect."""

    def __repr__(self) -> str:
        return f"<Response {self.status} from {self.url}: {len(self.body)} bytes>"


class _Watchdog:
    """Closes the download's connections when its time is up (a blocked read then returns)."""

    def __init__(self) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _cut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watched(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> Any:
    """A connection class like `base` whose socket the watchdog can close."""

    class WatchedConnection(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)

    return WatchedConnection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._connection = _watched(http.client.HTTPConnection, watchdog)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        # Not HTTPSHandler.__init__: it builds an SSL context at once (loading the system's
        # certificates takes ~20 ms), which a run that fetches over http never needs.
        # HTTPSConnection builds the default one (certificates checked) when it connects.
        urllib.request.AbstractHTTPHandler.__init__(self)
        self._connection = _watched(http.client.HTTPSConnection, watchdog)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """http and https only (no file:, ftp: or data:, even after a redirect)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(watchdog),
        _HTTPSHandler(watchdog),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    data: bytes | None = None,
) -> Response:
    """Download `url` within `timeout` seconds in all and `max_bytes` bytes of body.

    Args:
        url: an `http:` or `https:` URL.
        timeout: seconds for the whole download, from this call to the last
            byte; capped by what is left of the run's deadline, if one is set.
        max_bytes: the largest body accepted.
        headers: request headers (`If-None-Match`, `Authorization`...).
        method: the HTTP method, `GET` unless you say otherwise (`POST`...).
        data: the request body, sent as it is (set its `Content-Type` in `headers`).

    Returns:
        The answer: status 200 (or another 2xx), or 304 with an empty body.

    Raises:
        DownloadError: an error status, a network failure, the time or the
            size limit; the message names the URL and what to do.
        DeadlineExceeded: the run's deadline came first.
        ValueError: `timeout` or `max_bytes` is not a positive number.
    """
    if not timeout > 0 or timeout != timeout:
        raise ValueError(f"timeout must be a number of seconds greater than 0, not {timeout!r}")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be greater than 0, not {max_bytes!r}")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(
            f"{url}: not an http or https URL; fetch() downloads only those", url=url
        )
    limit, by_run = timeout, False
    left = interrupts.remaining()
    if left is not None and left < limit:
        limit, by_run = left, True
    watchdog = _Watchdog()
    timer = threading.Timer(limit, watchdog.expire)
    timer.daemon = True
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)

    def too_slow() -> BaseException:
        if by_run:
            return DeadlineExceeded(interrupts.deadline_seconds() or limit)
        return DownloadError(
            f"{url}: the download did not finish within {timeout:g} s (timeout, for the whole "
            "download); raise timeout if the source is that slow",
            url=url,
            retryable=True,
        )

    started = time.monotonic()
    timer.start()
    try:
        try:
            with _opener(watchdog).open(request, timeout=max(limit, 0.001)) as answer:
                body = _read_body(answer, url, max_bytes)
                if watchdog.expired:  # the connection was cut: the body may be short
                    raise too_slow()
                return Response(answer.status, answer.headers, body, answer.geturl())
        except urllib.error.HTTPError as error:
            with error:
                if error.code == 304:
                    return Response(304, error.headers, b"", error.geturl())
                said = f" {error.reason}" if error.reason else ""
                raise DownloadError(
                    f"{url}: the server answered {error.code}{said}",
                    url=url,
                    status=error.code,
                    headers=error.headers,
                    retryable=error.code in RETRYABLE_STATUSES,
                ) from None
        except DownloadError as exc:
            if watchdog.expired and exc.status is None:  # the cut connection, not the source
                raise too_slow() from None
            raise
        except DeadlineExceeded:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.expired or time.monotonic() - started >= limit:
                raise too_slow() from None
            reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            problem = (
                describe_exception(reason) if isinstance(reason, BaseException) else str(reason)
            )
            raise DownloadError(
                f"{url}: cannot download ({problem})", url=url, retryable=True
            ) from None
    finally:
        timer.cancel()


def _read_body(answer: http.client.HTTPResponse, url: str, max_bytes: int) -> bytes:
    too_big = DownloadError(
        f"{url}: the answer is larger than {max_bytes} bytes (max_bytes); raise max_bytes "
        "if the source really sends that much",
        url=url,
    )
    declared = answer.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    chunks = []
    total = 0
    while chunk := answer.read(min(_CHUNK, max_bytes + 1 - total)):
        total += len(chunk)
        if total > max_bytes:
            raise too_big
        chunks.append(chunk)
    if declared.isdigit() and total < int(declared):  # http.client says nothing: we do
        raise DownloadError(
            f"{url}: cannot download (the answer was cut short: {total} of {declared} bytes)",
            url=url,
            retryable=True,
        )
    return b"".join(chunks)
