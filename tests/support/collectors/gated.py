"""A stateful collector that holds its lock at a gate: the subject of the single-instance tests.

Run by tests/reliability/test_single_instance.py, from the repository root, as
`stateful-collectors run tests.support.collectors.gated:GatedCollector`.
Once it has its lock and its state, it notes its pid in `started_log`, waits
until the file `gate` exists, then fetches `url` once and publishes the body.
"""

import os
import time
import urllib.request

from stateful_collectors import BaseCollector, StatefulCollectorMixin


class GatedCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"

    config_spec = """
        [gated_collector]
        state_dir :: path
        url :: str
        gate :: path
        started_log :: path
    """

    def make_default_state(self):
        return {"runs": 0}

    def run(self):
        self.state = self.load_state()
        with open(self.config["started_log"], "a") as started_log:
            started_log.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + 120
        while not self.config["gate"].exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gate {self.config['gate']} was never opened")
            time.sleep(0.01)
        super().run()
        self.state["runs"] += 1
        self.save_state(self.state)

    def start_publishing(self):
        self.publish_output(*self.get_output_components())
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, **kwargs):
        with urllib.request.urlopen(self.config["url"], timeout=30) as response:
            return response.read()
