r"""A source with no order: remember what was seen, for a while.

The source lists entries (URLs here) with no time and in no order, adding
and dropping some between two fetches. Nothing in an entry says whether it
is new, so the collector remembers the entries it has published, each with
the time it first saw it, and publishes those it does not remember. To keep
that memory from growing for ever, an entry first seen more than
`window_days` ago is forgotten: the state holds about one window's worth of
entries, however long the source has existed. The price: an entry still (or
again) listed after it was forgotten is published once more.

The times are the source's own (`generated`, when it made the list), so the
window is measured on the source's clock, not on the machine's.

Run it against the demo feed (`stateful-collectors demo-feed`):

    stateful-collectors run seen_window:SeenWindowCollector \
        --config seen_window.conf
"""

import datetime
import json
import sys

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseSimpleCollector,
    StatefulCollectorMixin,
)

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class SeenWindowCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [seen_window]
        state_dir :: path
        url :: str
        window_days = 7 :: float    # how long an entry is remembered
    """

    def get_source_channel(self, **processed_data):
        return "urls"

    def make_default_state(self):
        return {"seen": {}}

    def obtain_data_body(self):
        seen = self.load_state()["seen"]
        listing = json.loads(self.download(self.config["url"]))
        window = datetime.timedelta(days=self.config["window_days"])
        now = listing["generated"]  # when the source made the list
        new, kept = select_unseen(listing["entries"], seen, now, window)
        if not new:
            return None  # nothing new: no message, and the state stays as it is
        self.new_state = {"seen": kept}
        return json.dumps(sorted(new, key=lambda entry: entry["url"]))

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)  # the new entries are confirmed


def select_unseen(entries, seen, now, window):
    """The entries not in `seen`, and the seen-window to save once they are published.

    `seen` maps each entry's key to the time it was first seen, written as
    `2026-11-27T20:00:00Z` (such strings sort like the times). Keys first seen
    `window` or longer before `now` are forgotten first; the new entries' keys
    are added with the time `now`.
    """
    moment = datetime.datetime.fromisoformat(now).astimezone(datetime.UTC)
    now, horizon = (time.strftime(UTC_FORMAT) for time in (moment, moment - window))
    kept = {key: first for key, first in seen.items() if first > horizon}
    new = []
    for entry in entries:
        key = entry["url"]
        if key not in kept:
            kept[key] = now
            new.append(entry)
    return new, kept


if __name__ == "__main__":
    sys.exit(SeenWindowCollector.cli_main())
