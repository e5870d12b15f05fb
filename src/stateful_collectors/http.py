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
(`retryable`: a network failure, a timeout, or a status in
`RETRYABLE_STATUSES`: 408, 429, 500, 502, 503, 504; not `404`, `501` or an
answer too large); `BaseDownloadingCollector` retries those. An answer with
an error status (404, 500...) is a `DownloadError` too, with its `status`;
`304 Not Modified` is not an error, but an answer with status 304 and no body,
for conditional requests.
It sends a GET request unless told another method and a body (`method`,
`data`). Only `http:` and `https:` URLs are fetched (HTTPS certificates are
checked), and the proxy variables (`https_proxy`...) are used; a URL or a
proxy variable that cannot be used is a `DownloadError` that names it, and is
not retried. A user and password in the URL (`https://user:password@host/`)
are sent as HTTP Basic authentication. Redirects are followed, at most
`MAX_REDIRECTS` of them, and only to `http:` and `https:` URLs; a redirect to
another host, port or scheme does not carry the `Authorization` and `Cookie`
headers there.

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
            print(str(error).split(": ", 1)[1].split("; ")[0])
            #> the answer is larger than 100 bytes
    ```
"""

from __future__ import annotations

import http.client
import os
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

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "RETRYABLE_STATUSES",
    "Response",
    "fetch",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds a whole download may take, by default."""
DEFAULT_MAX_BYTES = 64 << 20
"""The largest body `fetch` accepts by default (64 MiB)."""
MAX_REDIRECTS = 10
"""The most redirects `fetch` follows for one download."""

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


_PRIVATE_HEADERS = ("Authorization", "Cookie")
"""Headers a redirect carries only to the same scheme, host and port."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows at most `MAX_REDIRECTS` redirects, to http: and https: only, never in a loop.

    A redirect to another scheme, host or port leaves the `Authorization` and
    `Cookie` headers behind. Each refusal is one `DownloadError` naming the URL
    `fetch()` was given.
    """

    max_redirections = MAX_REDIRECTS + 1  # (urllib's own check never comes first)

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._visited = [url]

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            self._check(urllib.parse.urljoin(req.full_url, location), fp, code)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def _check(self, newurl: str, fp: Any, code: int) -> None:
        url = self._url
        refusal = None
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            refusal = (
                f"{url}: the server redirects to {_shortened(newurl)}, not an http or https "
                "URL; fetch() follows redirects only to those"
            )
        elif newurl in self._visited:
            refusal = (
                f"{url}: the server redirects in a loop (back to {_shortened(newurl)} after "
                f"{len(self._visited) - 1 or 1} redirect(s)); check the URL"
            )
        elif len(self._visited) > MAX_REDIRECTS:
            refusal = (
                f"{url}: the server redirects more than {MAX_REDIRECTS} times (the last one "
                f"to {_shortened(newurl)}); check the URL"
            )
        if refusal is not None:
            fp.close()
            raise DownloadError(refusal, url=url, status=code)

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        self._visited.append(newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in _PRIVATE_HEADERS:
                new.remove_header(name)
        return new


def _shortened(url: str) -> str:
    return url if len(url) <= 200 else f"{url[:200]}..."


def _opener(watchdog: _Watchdog, url: str) -> urllib.request.OpenerDirector:
    """http and https only (no file:, ftp: or data:, even after a redirect)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(watchdog),
        _HTTPSHandler(watchdog),
        _RedirectHandler(url),
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
    if not 0 < timeout < float("inf"):  # (nan too)
        raise ValueError(f"timeout must be a number of seconds greater than 0, not {timeout!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a whole number greater than 0, not {max_bytes!r}")
    target, headers = _request_target(url, headers or {})
    limit, by_run = timeout, False
    left = interrupts.remaining()
    if left is not None and left < limit:
        limit, by_run = left, True
    watchdog = _Watchdog()
    timer = threading.Timer(limit, watchdog.expire)
    timer.daemon = True
    request = urllib.request.Request(target, data=data, headers=headers, method=method)

    def too_slow() -> BaseException:
        if by_run:
            return DeadlineExceeded(interrupts.deadline_seconds() or limit)
        return DownloadError(
            f"{url}: the download did not finish within {timeout:g} s (the time for the whole "
            "download); raise download_timeout (fetch()'s timeout) if the source is that slow",
            url=url,
            retryable=True,
            timed_out=True,
        )

    started = time.monotonic()
    timer.start()
    try:
        try:
            with _opener(watchdog, url).open(request, timeout=max(limit, 0.001)) as answer:
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


def _request_target(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The URL to ask for and the headers to send, once `url` proved usable.

    A user and password in the URL become an `Authorization: Basic` header
    (unless `headers` has one), and leave the URL. A URL that cannot be
    fetched, or a proxy variable that cannot be used for it, is a
    `DownloadError` that is not retried: asking again gives the same answer.
    """
    problem = None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is no number, a bracket left open...
        parts, port, problem = None, None, f"{str(exc).split(':')[0]}; check the URL"
    if parts is None:
        pass
    elif parts.scheme.lower() not in ("http", "https"):
        problem = "not an http or https URL, the only ones fetch() downloads"
    elif any(char <= " " or char == "\x7f" for char in url):
        problem = "it holds a blank or a control character; write a blank as %20"
    elif not parts.hostname:
        problem = "it names no host; check the URL"
    elif port == 0:
        problem = "port 0 is not a port to connect to; check the URL"
    if problem is not None:
        raise DownloadError(f"{url}: cannot be fetched: {problem}", url=url)
    assert parts is not None
    _check_proxy(parts.scheme.lower(), parts.hostname or "", url)
    headers = dict(headers)
    if parts.username is None and parts.password is None:
        return url, headers
    if not any(name.lower() == "authorization" for name in headers):
        import base64  # only for a URL with credentials

        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), headers


def _check_proxy(scheme: str, host: str, url: str) -> None:
    """Refuse a proxy variable for `scheme` that names no usable proxy (`https_proxy=:::`)."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return
    try:
        hostport = urllib.request._parse_proxy(proxy)[3]  # type: ignore[attr-defined]
        proxy_parts = urllib.parse.urlsplit(f"//{hostport}")
        usable = bool(proxy_parts.hostname) and proxy_parts.port != 0
    except ValueError:
        usable = False
    if not usable:
        variable = next(
            (name for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY") if name in os.environ),
            f"{scheme}_proxy",
        )
        raise DownloadError(
            f"{url}: cannot be fetched: ${variable} = {proxy!r} names no proxy "
            "(write e.g. http://proxy.example.org:3128); fix or unset it",
            url=url,
        )


def _read_body(answer: http.client.HTTPResponse, url: str, max_bytes: int) -> bytes:
    too_big = DownloadError(
        f"{url}: the answer is larger than {max_bytes} bytes; raise download_max_bytes "
        "(fetch()'s max_bytes) if the source really sends that much",
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
