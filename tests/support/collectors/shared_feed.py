"""A collector whose state lives in PostgreSQL: the subject of the several-hosts tests.

Run by tests/reliability/test_several_hosts.py, from the repository root, as
`stateful-collectors run tests.support.collectors.shared_feed:SharedFeedCollector`,
with a config holding a `[postgresql]` section (each "host" has its own config
file, differing in `identity`). It keeps `{"last_id": N}` as JSON, publishes
one message per demo-feed item newer than that, each with the process id in
its headers, and can stop at two gates, so the tests can hold it where they
need it:

* after it took its lock and loaded its state, it notes its pid in
  `started_log` and waits until the file `gate` exists;
* after the sink confirmed every message, it notes its pid in
  `published_log` and waits until the file `save_gate` exists, then saves.
"""

import json
import os
import time
import urllib.request
from pathlib import Path

from stateful_collectors import BaseCollector, StatefulCollectorMixin


def _note(path: str, text: str) -> None:
    if path:
        with open(path, "a") as log:
            log.write(f"{text}\n")


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + 120
    while path and not Path(path).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gate {path} was never opened")
        time.sleep(0.01)


class SharedFeedCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [shared_feed]
        state_dir :: path
        url :: str
        gate = :: str
        save_gate = :: str
        started_log = :: str
        published_log = :: str
    """

    def make_default_state(self):
        return {"last_id": 0}

    def run(self):
        self.state = self.load_state()
        _note(self.config["started_log"], str(os.getpid()))
        _wait_for(self.config["gate"])
        with urllib.request.urlopen(self.config["url"], timeout=30) as response:
            self.items = [i for i in json.load(response) if i["id"] > self.state["last_id"]]
        super().run()
        _note(self.config["published_log"], str(os.getpid()))
        _wait_for(self.config["save_gate"])
        if self.items:
            self.state = {"last_id": self.items[-1]["id"]}
        self.save_state(self.state)

    def start_publishing(self):
        for item in self.items:
            self.publish_output(*self.get_output_components(item=item))
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, item, **processed_data):
        return json.dumps(item, sort_keys=True)

    def get_output_prop_kwargs(self, **kwargs):
        properties = super().get_output_prop_kwargs(**kwargs)
        properties["headers"] = {"pid": os.getpid()}
        return properties
