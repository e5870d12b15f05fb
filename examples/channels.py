r"""Several channels in one collector: one cursor each, advanced together or not at all.

The source has one list of records per channel; the config names the
channels to collect. The state holds, for each channel, the largest id
published. A run first fetches every channel (before anything is published),
then publishes one message per channel with new records, under the routing
key of that channel, and saves all the cursors at once, when every message
is confirmed. If fetching any channel fails, nothing is published and no
cursor moves: the run is all or nothing, like one transaction.

Run it against the demo feed (`stateful-collectors demo-feed`):

    stateful-collectors run channels:ChannelsCollector --config channels.conf
"""

import json
import sys
import urllib.parse

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseTwoPhaseCollector,
    StatefulCollectorMixin,
)


class ChannelsCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseTwoPhaseCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [channels]
        state_dir :: path
        url :: str                       # {channel} stands for the channel's name
        channels :: list_of_str          # phishing, malware, ...
    """

    def make_default_state(self):
        return {}  # a channel not in the state starts from its first record

    def obtain_input_pile(self):
        cursors = self.load_state()
        pile = {}
        for channel in self.config["channels"]:
            records = self._fetch(channel, after=cursors.get(channel, 0))
            if records:
                pile[channel] = records
        if not pile:
            return None  # nothing new anywhere: no sink opened, no save
        # Every cursor at once; saved only when every channel's message is confirmed.
        self.new_state = dict(cursors)
        for channel, records in pile.items():
            self.new_state[channel] = max(record["id"] for record in records)
        return pile

    def generate_input_data_dicts(self, pile, /):
        for channel, records in pile.items():
            yield {"channel": channel, "records": records}  # one message per channel

    def get_source_channel(self, channel, **processed_data):
        return channel

    def get_output_data_body(self, records, **processed_data):
        return json.dumps(records)

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)

    def _fetch(self, channel, after):
        url = self.config["url"].format(channel=urllib.parse.quote(channel))
        return json.loads(self.download(f"{url}?after={after}"))


if __name__ == "__main__":
    sys.exit(ChannelsCollector.cli_main())
