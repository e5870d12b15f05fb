"""A collector whose state changed shape twice since its first release, and migrates
old files.

Its state, release by release:

* version 0, the first release (no `state_version` yet): `{"last_utc": T}`;
* version 1 renamed the key: `{"newest_time": T}`;
* version 2 added a running count: `{"newest_time": T, "items_published": N}`.

A state file left by any earlier release is turned into version 2 by
`migrate_state()` when it is loaded; the file itself is rewritten, in the new
shape, by the next `save_state()` at the end of a successful run.

Run it like the complete example (demo feed on port 8808):

    python examples/migration_collector.py --config migration.conf
"""

import json
import sys
import urllib.parse
import urllib.request

from stateful_collectors import BaseCollector, StatefulCollectorMixin


class CountingCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"
    state_version = 2

    config_spec = """
        [counting_collector]
        state_dir :: path
        url :: str
    """

    def make_default_state(self):
        return {"newest_time": None, "items_published": 0}

    def migrate_state(self, state, from_version):
        # One step per release, oldest first: a file of any age passes the steps
        # it needs.
        if from_version < 1:
            state = {"newest_time": state["last_utc"]}
        if from_version < 2:
            state = {**state, "items_published": 0}  # nobody counted before version 2
        return state

    def run(self):
        self.state = self.load_state()
        self.new_items = self._download(self.state["newest_time"])
        super().run()
        if self.new_items:
            self.state = {
                "newest_time": self.new_items[-1]["time"],
                "items_published": self.state["items_published"] + len(self.new_items),
            }
        self.save_state(self.state)

    def start_publishing(self):
        if self.new_items:
            self.publish_output(*self.get_output_components())
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, **processed_data):
        return json.dumps(self.new_items)

    def _download(self, newest_time):
        url = self.config["url"]
        if newest_time is not None:
            url += "?" + urllib.parse.urlencode({"since": newest_time})
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)


if __name__ == "__main__":
    sys.exit(CountingCollector.cli_main())
