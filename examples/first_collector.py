"""A first collector: fetch the demo feed and publish everything in it as one message.

It keeps no state, so every run publishes the whole feed again; the guide's
next page fixes that. Run it with the demo feed serving on port 8808:

    stateful-collectors run first_collector:FirstCollector --config first_collector.conf
"""

from stateful_collectors import BaseCollector
from stateful_collectors.http import fetch


class FirstCollector(BaseCollector):
    raw_type = "stream"

    config_spec = """
        [first_collector]
        url :: str
        download_timeout = 30 :: seconds               # seconds for the whole download
        download_max_bytes = 10000000 :: positive_int  # the largest answer (bytes)
    """

    def start_publishing(self):
        output_rk, output_data_body, output_prop_kwargs = self.get_output_components()
        self.publish_output(output_rk, output_data_body, output_prop_kwargs)
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, **kwargs):
        # fetch() bounds the whole download, not each read: a source that sends one byte
        # every few seconds fails the run after download_timeout, instead of holding it
        response = fetch(
            self.config["url"],
            timeout=self.config["download_timeout"],
            max_bytes=self.config["download_max_bytes"],
        )
        return response.body
