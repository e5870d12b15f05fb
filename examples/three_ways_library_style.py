"""The demo feed's collector in this library's recommended style.

One of three versions of one collector (see "Coming from n6" in the guide):
each run publishes the feed's new items as one JSON message, under the
routing key `demo-feed.items`, and nothing when nothing is new. This one
takes n6 4.x's `BaseSimpleCollector` (no `run()`, no `inner_stop()`) and
saves in `after_completed_publishing()`, once the broker confirmed the
message; it declares every option in its `config_spec`, keeps its state as
JSON (readable, and safe to load), and runs as a command through `cli_main()`.
"""

import json
import sys
import urllib.parse
import urllib.request

from stateful_collectors import BaseSimpleCollector, StatefulCollectorMixin


class DemoFeedCollector(StatefulCollectorMixin, BaseSimpleCollector):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [demo_feed]
        state_dir :: path
        url :: str
    """

    def get_source_channel(self, **processed_data):
        return "items"

    def make_default_state(self):
        return {}

    def obtain_data_body(self):
        self.state = self.load_state()
        last_utc = self.state.get("last_utc")
        items = self._download(self.config["url"], only_newer_than=last_utc)
        if not items:
            return None  # nothing new: no message, and the state stays as it is
        self.state["last_utc"] = items[-1]["time"]
        return json.dumps(items)  # str is sent as UTF-8

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.state)  # the message is confirmed: safe to move on

    def _download(self, url, only_newer_than):
        # the items newer than `only_newer_than` (all of them on the first run)
        if only_newer_than is not None:
            url += "?" + urllib.parse.urlencode({"since": only_newer_than})
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)


if __name__ == "__main__":
    sys.exit(DemoFeedCollector.cli_main())
