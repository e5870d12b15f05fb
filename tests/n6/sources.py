"""The local HTTP sources of the n6-shaped collectors (`tests/n6/shaped*.py`).

One threaded server on a free loopback port holds what three sources hold,
and records every request:

* `/blocklist.csv`: time-stamped rows, newest first (the rows collector);
* `POST /api/entries`: a JSON API answering a JSON query page by page, with
  an `X-Token` header checked (the two-phase downloader);
* `POST /events/search`, `GET /attachments/<id>`: events and the attachments
  they name (the iteratively publishing collector); an attachment named in
  `missing` answers 404.

`add_rows()`, `add_entries()` and `add_event()` make new data appear, as a
source does between two runs.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "secret-token"


class Sources:
    """What the sources hold, and the requests they got."""

    def __init__(self) -> None:
        self.rows: list[str] = [
            "2026-11-27 20:02:00,c.example,high",
            "2026-11-27 20:01:00,b2.example,low",
            "2026-11-27 20:01:00,b1-żółw.example,low",
            "2026-11-27 20:00:00,a.example,medium",
        ]
        self.entries: list[dict[str, Any]] = [
            {"time": f"2026-11-27T20:0{n}:00", "ip": f"192.0.2.{n}"} for n in (3, 2, 1)
        ]
        self.events: list[dict[str, Any]] = [
            {"id": 1, "info": "first", "attachments": [11, 12]},
            {"id": 2, "info": "second", "attachments": [21]},
        ]
        self.missing: set[int] = set()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()

    def add_rows(self, *rows: str) -> None:
        with self._lock:
            self.rows[:0] = rows

    def add_entries(self, *entries: dict[str, Any]) -> None:
        with self._lock:
            self.entries[:0] = entries

    def add_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)

    @staticmethod
    def attachment(attachment_id: int) -> bytes:
        return f"attachment {attachment_id}\n".encode()

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append((method, path, headers, body))
            if method == "GET" and path == "/blocklist.csv":
                text = "# time,host,severity\n" + "\n".join(self.rows) + "\n"
                return 200, "text/csv", text.encode()
            if method == "POST" and path == "/api/entries":
                if headers.get("x-token") != TOKEN:
                    return 401, "text/plain", b"no token\n"
                query = json.loads(body)
                page, size = query["page"], query["per_page"]
                chunk = self.entries[(page - 1) * size : page * size]
                answer = {"total": len(self.entries), "entries": chunk}
                return 200, "application/json", json.dumps(answer).encode()
            if method == "POST" and path == "/events/search":
                since = json.loads(body).get("after_id", 0)
                found = [event for event in self.events if event["id"] > since]
                return 200, "application/json", json.dumps({"response": found}).encode()
            if method == "GET" and path.startswith("/attachments/"):
                attachment_id = int(path.rsplit("/", 1)[1])
                if attachment_id in self.missing:
                    return 404, "text/plain", b"no such attachment\n"
                return 200, "application/octet-stream", self.attachment(attachment_id)
        return 404, "text/plain", b"not found\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = urllib.parse.urlsplit(self.path).path
        status, content_type, data = self.server.sources.answer(self.command, path, headers, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sources: Sources


@contextmanager
def serving() -> Iterator[tuple[str, Sources]]:
    """Serve fresh `Sources` on a free loopback port; yield its base URL and the sources."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.sources = Sources()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.sources
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
