r"""A blocklist published whole, and only when it changed: a conditional download.

The state is what the server said about the version published last: its
`ETag` and `Last-Modified` headers (the validators), and a digest of the bytes.
Each run sends the validators back (`If-None-Match`, `If-Modified-Since`):

* `304 Not Modified`: nothing is published, and the state stays as it is;
* `200` with a new file: the whole file is published as one message, and the
  new validators are saved once the message is confirmed;
* `200` with the very bytes already published (a server that lost its
  validators, or whose `ETag` differs from one machine to the next): nothing
  is published, and the new validators are kept.

Run it against the demo feed (`stateful-collectors demo-feed`):

    stateful-collectors run conditional_download:BlocklistCollector \
        --config conditional_download.conf
"""

import hashlib
import sys

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseSimpleCollector,
    StatefulCollectorMixin,
)


class BlocklistCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector
):
    raw_type = "blacklist"
    content_type = "text/plain"
    state_codec = "json"

    config_spec = """
        [conditional_download]
        state_dir :: path
        url :: str
    """

    def get_source_channel(self, **processed_data):
        return "blocklist"

    def make_default_state(self):
        return {}

    def obtain_data_body(self):
        state = self.load_state()
        response = self.download_response(
            self.config["url"], custom_request_headers=conditional_headers(state)
        )
        if response.status == 304:
            return None  # not modified: no message, and the state stays as it is
        self.new_state = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "sha256": hashlib.sha256(response.body).hexdigest(),
        }
        if self.new_state["sha256"] == state.get("sha256"):
            # The same bytes as the last message: publish nothing, but keep the new
            # validators (saving is safe: the state still describes what was published).
            self.save_state(self.new_state)
            return None
        return response.body

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)  # the whole file is confirmed


def conditional_headers(state):
    """The request headers that make the server answer 304 when nothing changed."""
    headers = {}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    return headers


if __name__ == "__main__":
    sys.exit(BlocklistCollector.cli_main())
