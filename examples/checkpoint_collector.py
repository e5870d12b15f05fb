"""One message per feed item, and a checkpoint every `checkpoint_every` items.

A long run that dies halfway (killed, out of memory, the machine rebooted)
resumes from its last checkpoint: the next run re-publishes only the items
published after it, never the whole batch, and loses none.

Start the demo feed (`stateful-collectors demo-feed`), write a config file:

    [checkpoint_collector]
    state_dir = ~/.local/state/stateful-collectors
    url = http://127.0.0.1:8808/items.json
    checkpoint_every = 100

and run:

    python examples/checkpoint_collector.py --config checkpoint.conf
"""

import json
import sys
import urllib.parse
import urllib.request

from stateful_collectors import BaseCollector, StatefulCollectorMixin


def positive_int(text):
    """The `positive_int` converter of the config_spec: a whole number of 1 or more."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError("must be a whole number of 1 or more, e.g. 100")
    return number


class CheckpointCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"

    config_spec = """
        [checkpoint_collector]
        state_dir :: path
        url :: str
        checkpoint_every = 100 :: positive_int
    """
    config_converters = {"positive_int": positive_int}

    def make_default_state(self):
        return {"last_time": None, "last_id": 0}

    def run(self):
        self.state = self.load_state()
        self.new_items = self._download_new_items()
        # publishes, checkpointing on the way; returns once all is confirmed
        super().run()
        self.save_state(self.state)

    def start_publishing(self):
        every = self.config["checkpoint_every"]
        for number, item in enumerate(self.new_items, start=1):
            self.publish_output(*self.get_output_components(item=item))
            self.state = {"last_time": item["time"], "last_id": item["id"]}
            if number % every == 0:
                # waits for the broker's confirms, then saves
                self.checkpoint(self.state)
        self.inner_stop()

    def get_source_channel(self, **processed_data):
        return "items"

    def get_output_data_body(self, item, **processed_data):
        return json.dumps(item, sort_keys=True)

    def _download_new_items(self):
        url = self.config["url"]
        if self.state["last_time"] is not None:
            # `from=` includes items at exactly last_time; the id check drops those
            # already published (the demo feed's ids grow with time).
            url += "?" + urllib.parse.urlencode({"from": self.state["last_time"]})
        with urllib.request.urlopen(url, timeout=30) as response:
            items = json.load(response)
        return [item for item in items if item["id"] > self.state["last_id"]]


if __name__ == "__main__":
    sys.exit(CheckpointCollector.cli_main())
