r"""Many pages a run, behind an opaque cursor: a checkpoint after every page.

The source answers a page of items and a `next` cursor, a token it makes and
only it understands, to send back for the following page. The state is the
cursor of the first page not yet published. Each item is one message; after
the last item of a page the collector calls `checkpoint()`: it waits until
the sink has confirmed the page, then saves the page's `next` cursor. A run
killed between two pages resumes at the last confirmed page: it publishes
again at most the page that was in flight, and loses nothing.

Run it against the demo feed (`stateful-collectors demo-feed`):

    stateful-collectors run cursor_pages:CursorPagesCollector \
        --config cursor_pages.conf
"""

import json
import sys
import urllib.parse

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseTwoPhaseCollector,
    StatefulCollectorMixin,
)


class CursorPagesCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseTwoPhaseCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [cursor_pages]
        state_dir :: path
        url :: str
        max_pages = 1000 :: int    # a run stops after this many; the next one goes on
    """

    def get_source_channel(self, **processed_data):
        return "items"

    def make_default_state(self):
        return {"cursor": None}  # None: from the first page the source has

    def obtain_input_pile(self):
        self.state = self.load_state()
        first_page = self._fetch_page(self.state["cursor"])
        if not first_page["items"]:
            return None  # nothing new: no sink opened, and the state stays as it is
        return first_page

    def generate_input_data_dicts(self, first_page, /):
        page, pages = first_page, 1
        while True:
            for item in page["items"]:
                yield {"item": item}  # published before the loop asks for the next one
            # Every item of the page is published: wait for the sink to confirm them,
            # then save the cursor of the page after it.
            self.state = {"cursor": page["next"]}
            self.checkpoint(self.state)
            if not page["has_more"] or pages >= self.config["max_pages"]:
                return
            page, pages = self._fetch_page(page["next"]), pages + 1

    def get_output_data_body(self, item, **processed_data):
        return json.dumps(item, sort_keys=True)

    def _fetch_page(self, cursor):
        url = self.config["url"]
        if cursor is not None:
            url += "?" + urllib.parse.urlencode({"cursor": cursor})
        return json.loads(self.download(url))


if __name__ == "__main__":
    sys.exit(CursorPagesCollector.cli_main())
