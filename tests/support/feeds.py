"""Demo feeds the tests watch: `CountingFeed` counts the item requests it serves; `request()`
asks a served feed one thing and returns (status, headers, body)."""

from __future__ import annotations

import http.client
import threading

from stateful_collectors.demo import DemoFeed

__all__ = ["CountingFeed", "request"]


class CountingFeed(DemoFeed):
    """The demo feed, counting the item requests it serves."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requests = 0
        self._count_lock = threading.Lock()

    def items(self, *args, **kwargs):
        with self._count_lock:
            self.requests += 1
        return super().items(*args, **kwargs)


def request(server, method: str, path: str, headers: dict | None = None):
    """(status, headers, body) of one request to a served feed."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
