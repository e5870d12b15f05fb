"""The demo feed's collector in n6 4.x's style: BaseSimpleCollector, get_source()...

One of three versions of one collector (see "Coming from n6" in the guide):
each run publishes the feed's new items as one JSON message, under the
routing key `demo-feed.items`, and nothing when nothing is new. This one is
written as n6 4.x's own collectors are: its options in a pattern whose
section is named after the class, the whole source from `get_source()`, the
body (bytes) from `obtain_data_body()`, the state saved in
`after_completed_publishing()`, and `<ClassName>_main` entry point functions.
"""

import json
import urllib.parse
import urllib.request

from stateful_collectors import (
    BaseSimpleCollector,
    StatefulCollectorMixin,
    add_collector_entry_point_functions,
    combined_config_spec,
)


class DemoFeedCollector(StatefulCollectorMixin, BaseSimpleCollector):
    raw_type = "stream"

    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        url :: str
    """)

    def __init__(self, /, **kwargs):
        super().__init__(**kwargs)
        self._state = None  # set in obtain_data_body()

    def get_source(self, **processed_data):
        return "demo-feed.items"

    def make_default_state(self):
        return {}

    def obtain_data_body(self):
        self._state = self.load_state()
        items = self._download_items(only_newer_than=self._state.get("last_utc"))
        if not items:
            return None  # nothing to publish: after_completed_publishing() is skipped
        self._state["last_utc"] = items[-1]["time"]
        return json.dumps(items).encode("utf-8")

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self._state)

    def _download_items(self, only_newer_than):
        url = self.config["url"]
        if only_newer_than is not None:
            url += "?" + urllib.parse.urlencode({"since": only_newer_than})
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)


add_collector_entry_point_functions(__name__)
