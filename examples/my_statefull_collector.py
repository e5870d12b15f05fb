r"""n6's MyStatefullCollector, complete: its `_download` fetches from a real feed.

Run it with the demo feed serving on port 8808 (`stateful-collectors demo-feed`)
and a config file naming `state_dir` and `url` (my_statefull_collector.conf):

    stateful-collectors run my_statefull_collector:MyStatefullCollector \
        --config my_statefull_collector.conf

The download is bounded as a whole: `download_timeout` seconds and
`download_max_bytes` bytes at most (30 s and 10 MB unless the config says
otherwise), so a source that stalls cannot keep the run, and its lock, for ever.
"""

import json
import urllib.parse

from stateful_collectors import BaseCollector, StatefulCollectorMixin
from stateful_collectors.http import fetch


class FeedData:
    """What `_download` returns: the new items as the message body, and their newest
    time."""

    # A plain class, not a dataclass: every run would pay for importing `dataclasses`.
    def __init__(self, items, time_utc):
        self.items = items
        self.time_utc = time_utc

    def __bytes__(self):
        return json.dumps(self.items).encode()


class MyStatefullCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"

    config_spec = """
        [my_statefull_collector]
        state_dir :: path
        url :: str
        download_timeout = 30 :: seconds               # seconds for the whole download
        download_max_bytes = 10000000 :: positive_int  # the largest answer (bytes)
    """

    def make_default_state(self):
        return {}

    def run(self):
        self.state = self.load_state()
        super(MyStatefullCollector, self).run()  # <- main activity of the collector
        self.save_state(self.state)

    def start_publishing(self):
        output_rk, output_data_body, output_prop_kwargs = self.get_output_components()
        self.publish_output(output_rk, output_data_body, output_prop_kwargs)
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "example-channel"

    def get_output_data_body(self, **kwargs):
        data = self._collect_data()
        return data

    def _collect_data(self):
        data = self._download(
            url=self.config["url"], only_newer_than=self.state.get("last_utc")
        )
        self.state["last_utc"] = data.time_utc
        return data

    def _download(self, url, only_newer_than):
        # download the items newer than the `only_newer_than` time (all of them on the
        # first run)
        if only_newer_than is not None:
            url += "?" + urllib.parse.urlencode({"since": only_newer_than})
        # fetch() bounds the whole download, not each read: a source that sends one byte
        # every few seconds fails the run after download_timeout, instead of holding it
        response = fetch(
            url,
            timeout=self.config["download_timeout"],
            max_bytes=self.config["download_max_bytes"],
        )
        items = json.loads(response.body)
        newest = items[-1]["time"] if items else only_newer_than
        return FeedData(items, time_utc=newest)
