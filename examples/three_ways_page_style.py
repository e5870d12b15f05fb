"""The demo feed's collector in the style of n6's original page: run(), inner_stop().

One of three versions of one collector (see "Coming from n6" in the guide):
each run publishes the feed's new items as one JSON message, under the
routing key `demo-feed.items`, and nothing when nothing is new. This one
loads its state in `run()`, publishes in `start_publishing()`, ends with
`inner_stop()` and saves the state when `run()` has returned.
"""

import json
import urllib.parse
import urllib.request

from stateful_collectors import BaseCollector, StatefulCollectorMixin


class DemoFeedCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"

    config_spec = """
        [demo_feed]
        state_dir :: path
        url :: str
    """

    def make_default_state(self):
        return {}

    def run(self):
        self.state = self.load_state()
        super(DemoFeedCollector, self).run()  # returns when the broker confirmed it all
        self.save_state(self.state)

    def start_publishing(self):
        last_utc = self.state.get("last_utc")
        items = self._download(self.config["url"], only_newer_than=last_utc)
        if items:
            output_components = self.get_output_components(items=items)
            self.publish_output(*output_components)
            self.state["last_utc"] = items[-1]["time"]
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, items, **kwargs):
        return json.dumps(items).encode("utf-8")

    def _download(self, url, only_newer_than):
        # the items newer than `only_newer_than` (all of them on the first run)
        if only_newer_than is not None:
            url += "?" + urllib.parse.urlencode({"since": only_newer_than})
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
