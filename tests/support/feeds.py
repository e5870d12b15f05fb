"""Demo feeds the tests watch: `CountingFeed` counts the item requests it serves."""

from __future__ import annotations

import threading

from stateful_collectors.demo_feed import DemoFeed

__all__ = ["CountingFeed"]


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
