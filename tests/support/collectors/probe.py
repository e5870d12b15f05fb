"""A small stateful collector that the broker tests run as a real process.

Its state is `{"next": N}`: each run publishes `count` numbered messages from
N on, then saves `{"next": N + count}`. Options let a test steer it into the
situation it needs: another exchange, a long pause before publishing, a
rendezvous with the test through files, a stop between the last confirm and
`save_state()`. The `probe` fixture (tests/support/probe.py) runs it, from
the repository root, as

    stateful-collectors run tests.support.collectors.probe:ProbeCollector --config probe.conf
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from stateful_collectors import BaseCollector, StatefulCollectorMixin


def _wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds:g} s")
        time.sleep(0.02)


class ProbeCollector(StatefulCollectorMixin, BaseCollector):
    """Publishes `count` messages `{"n": i, "channel": ...}`, numbered from the state on."""

    raw_type = "stream"

    config_spec = """
        [probe]
        state_dir :: path
        channel = probe :: str
        count = 3 :: int
        exchange = raw :: str
        ; publish to this exchange instead of `exchange` (it is not declared)
        publish_to = :: str
        ; seconds spent "downloading" inside start_publishing, before the first message
        idle_before_publish = 0 :: float
        ; touched when start_publishing begins; publishing then waits for go_file
        ready_file = :: str
        go_file = :: str
        ; touched once every message is confirmed, just before the state is saved;
        ; the process then sleeps there, for the test to kill it
        stop_before_save_file = :: str
    """

    def get_state_file_name(self):
        return f"probe-{self.config['channel']}.pickle"

    @property
    def output_queue(self):
        return {"exchange": self.config["exchange"], "exchange_type": "topic"}

    def make_default_state(self):
        return {"next": 1}

    def run(self):
        self.state = self.load_state()
        super().run()
        self.save_state(self.state)

    def save_state(self, state):
        if self.config["stop_before_save_file"]:
            Path(self.config["stop_before_save_file"]).touch()
            time.sleep(3600)
        super().save_state(state)

    def start_publishing(self):
        if self.config["ready_file"]:
            Path(self.config["ready_file"]).touch()
        if self.config["go_file"]:
            _wait_for(Path(self.config["go_file"]))
        time.sleep(self.config["idle_before_publish"])
        first = self.state["next"]
        for number in range(first, first + self.config["count"]):
            rk, body, prop_kwargs = self.get_output_components(number=number)
            self.publish_output(rk, body, prop_kwargs, exchange=self.config["publish_to"] or None)
        self.state = {"next": first + self.config["count"]}
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return self.config["channel"]

    def get_output_data_body(self, number, **kwargs):
        return json.dumps({"n": number, "channel": self.config["channel"]})


class ProbeFileCollector(ProbeCollector):
    """The same, as a 'file' collector: each message is a small CSV file."""

    raw_type = "file"
    content_type = "text/csv"

    def get_output_data_body(self, number, **kwargs):
        return f"n,channel\r\n{number},{self.config['channel']}\r\n"
