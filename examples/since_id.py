r"""A source whose records have increasing ids: the state is the largest id published.

Each run asks for the records above the saved id (`?since_id=N`), a batch at
a time, and publishes them as one message; once the message is confirmed, the
largest id among them becomes the state. A gap in the ids (records deleted,
or ids the source skipped) costs nothing: the next id above the saved one is
simply the next record. A record that shows up *late*, with an id below one
already published, is never asked for again; the guide's page on this recipe
says when that happens and what to do about it.

Run it against the demo feed (`stateful-collectors demo-feed`):

    stateful-collectors run since_id:SinceIdCollector --config since_id.conf
"""

import json
import sys
import urllib.parse

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseSimpleCollector,
    StatefulCollectorMixin,
)


class SinceIdCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [since_id]
        state_dir :: path
        url :: str
        batch = 100 :: int    # records asked for in one request
    """

    def get_source_channel(self, **processed_data):
        return "records"

    def make_default_state(self):
        return {"since_id": 0}

    def obtain_data_body(self):
        since_id = self.load_state()["since_id"]
        records = []
        while True:
            batch = self._fetch(since_id)
            records += batch
            newest = max((record["id"] for record in batch), default=since_id)
            if len(batch) < self.config["batch"] or newest <= since_id:
                break  # the last batch, or a source that does not move on
            since_id = newest
        if not records:
            return None
        self.new_state = {"since_id": max(record["id"] for record in records)}
        return json.dumps(records)

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)  # the records are confirmed

    def _fetch(self, since_id):
        query = {"since_id": since_id, "limit": self.config["batch"]}
        url = self.config["url"] + "?" + urllib.parse.urlencode(query)
        return json.loads(self.download(url))


if __name__ == "__main__":
    sys.exit(SinceIdCollector.cli_main())
