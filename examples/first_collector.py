"""A first collector: fetch the demo feed and publish everything in it as one message.

It keeps no state, so every run publishes the whole feed again; the guide's
next page fixes that. Run it with the demo feed serving on port 8808:

    stateful-collectors run first_collector:FirstCollector --config first_collector.conf
"""

import urllib.request

from stateful_collectors import BaseCollector


class FirstCollector(BaseCollector):
    raw_type = "stream"

    config_spec = """
        [first_collector]
        url :: str
        timeout = 30 :: float
    """

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, **kwargs):
        with urllib.request.urlopen(
            self.config["url"], timeout=self.config["timeout"]
        ) as response:
            return response.read()

    def start_publishing(self):
        output_rk, output_data_body, output_prop_kwargs = self.get_output_components()
        self.publish_output(output_rk, output_data_body, output_prop_kwargs)
        self.inner_stop()
