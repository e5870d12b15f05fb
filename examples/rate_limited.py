r"""A source that limits how often it may be asked: 429, Retry-After, retries that end.

`BaseDownloadingCollector` does the waiting: when the source answers `429 Too
Many Requests` (or `503`, or the connection fails), it waits as long as the
answer's `Retry-After` header asks (1, 2, 4... seconds when it says nothing)
and asks again, at most `download_retries` more times. A wait that would pass
the run's deadline is not even started. When it gives up, the run fails with
one line, nothing is published and the state stays as it was: the next run
asks again from the same place.

Run it against the demo feed (`stateful-collectors demo-feed --rate-limit 2`):

    stateful-collectors run rate_limited:RateLimitedCollector \
        --config rate_limited.conf
"""

import json
import sys
import urllib.parse

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseSimpleCollector,
    StatefulCollectorMixin,
)


class RateLimitedCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [rate_limited]
        state_dir :: path
        url :: str
        download_retries = 3 :: int        # attempts after the first
        download_timeout = 30 :: seconds   # seconds for one whole download
    """

    def get_source_channel(self, **processed_data):
        return "items"

    def make_default_state(self):
        return {"since": None}

    def obtain_data_body(self):
        state = self.load_state()
        url = self.config["url"]
        if state["since"] is not None:
            url += "?" + urllib.parse.urlencode({"since": state["since"]})
        items = json.loads(self.download(url))  # retried as the config says
        if not items:
            return None
        self.new_state = {"since": items[-1]["time"]}
        return json.dumps(items)

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)  # the items are confirmed


if __name__ == "__main__":
    sys.exit(RateLimitedCollector.cli_main())
