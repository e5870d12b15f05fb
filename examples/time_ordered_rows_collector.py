"""The demo feed's CSV file, each row published once: a BaseTimeOrderedRowsCollector.

Start the demo feed (`stateful-collectors demo-feed`), write a config file:

    [demo_csv_collector]
    state_dir = ~/.local/state/stateful-collectors
    url = http://127.0.0.1:8808/items.csv

and run this file once in a while:

    python examples/time_ordered_rows_collector.py --config demo-csv.conf

Each run publishes one CSV message with the rows that appeared since the last
run (all rows on the first run), and nothing when there are none.
"""

import csv
import io
import sys
import urllib.parse
import urllib.request

from stateful_collectors import BaseTimeOrderedRowsCollector

COLUMNS = ["id", "time", "severity", "title"]


class DemoCsvCollector(BaseTimeOrderedRowsCollector):
    raw_type = "file"
    content_type = "text/csv"

    config_spec = """
        [demo_csv_collector]
        state_dir :: path
        url :: str
    """

    # obtain_orig_data() asks the feed for the rows from the newest time on
    source_filters_by_time = True

    def get_source_channel(self, **processed_data):
        return "advisories-csv"

    def obtain_orig_data(self):
        url = self.config["url"]
        if self.newest_row_time:  # '' before the first run
            # `from=` is inclusive: rows that appeared at exactly the newest time
            # after the last run come back too (the base class drops the repeats).
            query = urllib.parse.urlencode({"from": self.newest_row_time})
            url += ("&" if "?" in url else "?") + query
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()

    def all_rows_from_orig_data(self, orig_data):
        return list(csv.DictReader(io.StringIO(orig_data.decode("utf-8"))))

    def pick_raw_row_time(self, row):
        return row["time"]

    def clean_row_time(self, raw_row_time):
        return raw_row_time  # ISO 8601 in UTC (2026-11-27T20:00:00Z) sorts by time

    def extract_row_key(self, row):
        return int(row["id"])

    def output_data_from_fresh_rows(self, fresh_rows):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(fresh_rows)
        return out.getvalue().encode("utf-8")


if __name__ == "__main__":
    sys.exit(DemoCsvCollector.cli_main())
