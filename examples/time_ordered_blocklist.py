"""A CSV blocklist served whole, newest first: each row published once.

The demo feed serves one at /cookbook/blocklist.csv: `#` comment lines, then a
row per host, `first_seen,host,severity`, with no header and no id column. Each
run downloads the whole file and publishes the new rows as one message, oldest
first (rows of one time keep the file's order), joined by line breaks.

    stateful-collectors run time_ordered_blocklist:BlocklistCollector \
        --config time_ordered_blocklist.conf
"""

import datetime
import sys

from stateful_collectors import BaseTimeOrderedRowsCollector
from stateful_collectors.http import fetch


class BlocklistCollector(BaseTimeOrderedRowsCollector):
    raw_type = "file"
    content_type = "text/csv"
    state_codec = "json"

    config_spec = """
        [blocklist_collector]
        state_dir :: path
        url :: str
    """

    def get_source_channel(self, **processed_data):
        return "blocklist"

    def obtain_orig_data(self):
        return fetch(self.config["url"]).body  # the whole file, every time

    def pick_raw_row_time(self, row):
        return row.split(",", 1)[0]  # first_seen, the first column

    def clean_row_time(self, raw_row_time):
        # One shape for every row, in UTC, so that strings sort as the times do:
        # '2026-11-27T21:00:00+01:00' becomes '2026-11-27T20:00:00Z'.
        moment = datetime.datetime.fromisoformat(raw_row_time)
        if moment.tzinfo is None:
            raise ValueError(f"the time {raw_row_time!r} has no time zone")
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(BlocklistCollector.cli_main())
