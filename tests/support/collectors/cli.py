"""Collectors that the command-line tests run as real processes (not a test module)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from stateful_collectors import BaseCollector, StatefulCollectorMixin

log = logging.getLogger(__name__)


LONG_FAILURE = "token=abc123 \x1b[31m" + "the source said " * 200 + "\x00end"
"""What a 'fail-long' run raises: 3 KB of text, with a secret and control characters in it."""


class Counter(StatefulCollectorMixin, BaseCollector):
    """Publishes `run N`, remembers N; `mode` makes a run fail or block, `pad` grows its state.

    Modes: ok, fail, fail-long (3 KB of exception text), chatty (prints on
    stdout), block, swallow, no-inner-stop, stop, and slow-close: after its save, `close()` writes
    `ready_file` and waits until `go_file` exists (a signal can land there).
    """

    raw_type = "stream"
    config_spec = """
        [counter]
        state_dir :: path
        mode = ok :: str          # see the class's docstring
        ready_file = :: str       # written once a 'block' run is blocked
        go_file = :: str          # what a 'slow-close' run waits for in close()
        pad = 0 :: int            # bytes of padding saved with the state
    """

    def make_default_state(self):
        return {"runs": 0}

    def run(self):
        self.state = self.load_state()
        super().run()
        if self.config.get("pad"):
            self.state["pad"] = "x" * self.config["pad"]
        self.save_state(self.state)

    def get_source_channel(self, **processed_data):
        return "runs"

    def get_output_data_body(self, **kwargs):
        return f"run {self.state['runs']}"

    def start_publishing(self):
        mode = self.config["mode"]
        log.debug("counter starts in mode %s", mode)
        self.state["runs"] += 1
        self.publish_output(*self.get_output_components())
        if mode == "fail":
            raise ConnectionError("the source went away")
        if mode == "fail-long":
            raise RuntimeError(LONG_FAILURE)
        if mode == "chatty":  # a collector's own print(), as some have
            print(f"published run {self.state['runs']}")
        if mode == "block":
            Path(self.config["ready_file"]).write_text("ready")
            time.sleep(120)  # until the test sends a signal
        if mode == "swallow":  # a collector that catches everything, signals included
            try:
                Path(self.config["ready_file"]).write_text("ready")
                time.sleep(120)
            except BaseException:
                log.warning("counter ignores what stopped its sleep")
        if mode == "no-inner-stop":
            return
        if mode == "stop":
            self.stop()  # as a handler of the collector's own would
        self.inner_stop()

    def close(self):
        if self.config.get("mode") == "slow-close" and self.state_saved:
            Path(self.config["ready_file"]).write_text("closing")
            go = Path(self.config["go_file"])
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        super().close()


class JsonCounter(Counter):
    """The same, with a JSON state file."""

    state_codec = "json"
    config_spec = """
        [json_counter]
        state_dir :: path
        mode = ok :: str
        ready_file = :: str
    """


class RichState(StatefulCollectorMixin, BaseCollector):
    """Saves a state that JSON cannot hold as it is: sets, tuple keys, datetimes, bytes."""

    raw_type = "stream"
    config_spec = """
        [rich_state]
        state_dir :: path
    """

    STATE = {
        "last": dt.datetime(2026, 11, 27, 20, 4, tzinfo=dt.UTC),
        "seen": {3, 1, 2},
        "by_key": {("feed", 1): 5, ("feed", 2): 6},
        "raw": b"\xff\x00",
        "window": dt.timedelta(minutes=5),
    }

    def run(self):
        self.load_state()
        super().run()
        self.save_state(self.STATE)

    def start_publishing(self):
        self.inner_stop()


class Plain(BaseCollector):
    """A collector without state."""

    raw_type = "stream"
    config_spec = """
        [plain_feed]
    """

    def get_source_channel(self, **processed_data):
        return "plain"

    def get_output_data_body(self, **kwargs):
        return "plain"

    def start_publishing(self):
        self.publish_output(*self.get_output_components())
        self.inner_stop()


class AbstractFeed(BaseCollector):
    """A base class without raw_type: not a command of its own."""
