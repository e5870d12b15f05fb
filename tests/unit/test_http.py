"""`stateful_collectors.http.fetch`: the whole download bounded, in time and size, over real HTTP.

A small real server on loopback plays each kind of source: one that answers,
redirects, fails, stalls in its headers or its body (a byte at a time), sends
more than allowed (with or without saying so), or hangs up mid-answer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from stateful_collectors.errors import DownloadError
from stateful_collectors.http import fetch


class Source:
    """A loopback TCP server whose every connection is handled by `behaviour(connection, stop)`.

    `stop` is set when the server closes: a behaviour that stalls waits on it, so no
    thread outlives its test (the kill tests fork, and want no other thread).
    """

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._socket.accept()
                threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            self.behaviour(connection, self.stop)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


@contextlib.contextmanager
def source(behaviour):
    server = Source(behaviour)
    try:
        yield server
    finally:
        server.close()


def answer(status: str, body: bytes = b"", headers: str = ""):
    def send(connection: socket.socket, stop: threading.Event) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        connection.sendall(head.encode() + body)

    return send


def dripping(head: bytes, pause: float = 0.3, after: bytes = b""):
    def send(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(after)
        for byte in head:
            if stop.wait(pause):
                return
            connection.sendall(bytes([byte]))

    return send


def test_an_answer_with_its_status_headers_and_body():
    with source(answer("200 OK", b"[1, 2]", 'ETag: "7"\r\n')) as server:
        response = fetch(f"{server.url}/items.json")
    assert (response.status, response.headers["etag"], response.body) == (200, '"7"', b"[1, 2]")
    assert response.url == f"{server.url}/items.json"


def test_304_is_an_answer_not_an_error():
    with source(answer("304 Not Modified", headers='ETag: "7"\r\n')) as server:
        response = fetch(server.url, headers={"If-None-Match": '"7"'})
    assert (response.status, response.body) == (304, b"")


@pytest.mark.parametrize(("status", "code"), [("404 Not Found", 404), ("503 Busy", 503)])
def test_an_error_status_is_a_download_error_with_its_status(status, code):
    with source(answer(status, b"nope")) as server:
        with pytest.raises(DownloadError) as raised:
            fetch(server.url)
    assert raised.value.status == code
    assert str(raised.value) == f"{server.url}: the server answered {status}"


def test_a_redirect_is_followed_but_never_to_a_local_file():
    with source(answer("200 OK", b"moved")) as target:
        with source(answer("302 Found", headers=f"Location: {target.url}/new\r\n")) as server:
            assert fetch(server.url).body == b"moved"
    with source(answer("302 Found", headers="Location: file:///etc/passwd\r\n")) as server:
        with pytest.raises(DownloadError) as raised:
            fetch(server.url)
    assert str(raised.value) == (
        f"{server.url}: the server redirects to file:///etc/passwd, not an http or https URL; "
        "fetch() follows redirects only to those"
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "/items.json"])
def test_only_http_and_https_urls_are_fetched(url):
    with pytest.raises(DownloadError, match="not an http or https URL"):
        fetch(url)


@pytest.mark.parametrize(
    ("what", "behaviour"),
    [
        ("headers a byte at a time", dripping(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100)),
        (
            "a body a byte at a time",
            dripping(b"x" * 100, after=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
        ),
        ("nothing at all", lambda connection, stop: stop.wait(30)),
    ],
)
def test_the_whole_download_is_bounded_in_time(what, behaviour):
    with source(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError) as raised:
            fetch(server.url, timeout=1.5)
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 10, what
    assert str(raised.value) == (
        f"{server.url}: the download did not finish within 1.5 s (the time for the whole "
        "download); raise download_timeout (fetch()'s timeout) if the source is that slow"
    )


@pytest.mark.parametrize(
    "behaviour",
    [
        answer("200 OK", b"x" * 5000),  # says so in Content-Length
        lambda c, stop: c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000),  # does not say
        lambda c, stop: c.sendall(  # chunked: the size is known only while reading
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"3e8\r\n" + b"x" * 1000 + b"\r\n" for _ in range(5))
            + b"0\r\n\r\n"
        ),
    ],
)
def test_the_body_is_bounded_in_size(behaviour):
    with source(behaviour) as server:
        with pytest.raises(DownloadError) as raised:
            fetch(server.url, max_bytes=1000)
    assert str(raised.value) == (
        f"{server.url}: the answer is larger than 1000 bytes; raise download_max_bytes "
        "(fetch()'s max_bytes) if the source really sends that much"
    )


def test_an_answer_cut_short_is_an_error_not_a_short_body():
    cut_short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
    with source(lambda c, stop: c.sendall(cut_short)) as s:
        with pytest.raises(DownloadError) as raised:
            fetch(s.url)
    assert str(raised.value) == (
        f"{s.url}: cannot download (the answer was cut short: 5 of 100 bytes)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be a number of seconds greater than 0"),
        ({"timeout": float("nan")}, "timeout must be a number of seconds greater than 0"),
        ({"max_bytes": 0}, "max_bytes must be a whole number greater than 0"),
        ({"timeout": float("inf")}, "timeout must be a number of seconds greater than 0"),
    ],
)
def test_nonsense_limits_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fetch("http://127.0.0.1:9/", **kwargs)


def recording_source(answer_for):
    """A loopback HTTP server that records each request's path and headers, then answers.

    `answer_for(path)` gives the status line and extra headers of the answer.
    """
    seen: list[dict[str, str]] = []

    server = Source(lambda connection, stop: None)

    def handle(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            request = connection.recv(65536).decode("latin-1")
            head, *lines = request.split("\r\n\r\n")[0].split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
            seen.append({"path": head.split(" ")[1], **headers})
            status, extra = answer_for(head.split(" ")[1])
            connection.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 2\r\n{extra}\r\n[]".encode())

    server._handle = handle  # type: ignore[method-assign]
    return server, seen


def test_a_redirect_to_another_host_leaves_the_credentials_behind():
    other, seen_there = recording_source(lambda path: ("200 OK", ""))
    here, seen_here = recording_source(
        lambda path: (
            ("200 OK", "")
            if path == "/same-origin"
            else (
                "302 Found",
                f"Location: {'/same-origin' if path == '/stay' else other.url + '/x'}\r\n",
            )
        )
    )
    try:
        user_and_password = here.url.replace("http://", "http://me:s3cret@")
        fetch(f"{user_and_password}/stay")
        fetch(f"{user_and_password}/leave")
        fetch(f"{here.url}/leave", headers={"Authorization": "Bearer T", "Cookie": "c=1"})
    finally:
        here.close()
        other.close()
    basic = "Basic bWU6czNjcmV0"  # me:s3cret
    assert [(s["path"], s.get("authorization")) for s in seen_here] == [
        ("/stay", basic),
        ("/same-origin", basic),  # the same scheme, host and port: kept
        ("/leave", basic),
        ("/leave", "Bearer T"),
    ]
    assert [(s["path"], s.get("authorization"), s.get("cookie")) for s in seen_there] == [
        ("/x", None, None),
        ("/x", None, None),
    ]
    assert all("@" not in s["host"] for s in seen_here)  # the URL asked for has no user in it
