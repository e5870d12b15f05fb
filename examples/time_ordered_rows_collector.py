"""Collect the demo feed's CSV file, publishing each row once: a
BaseTimeOrderedRowsCollector.

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
from stateful_collectors.runner import collector_main

COLUMNS = ["id", "time", "severity", "title"]


class DemoCsvCollector(BaseTimeOrderedRowsCollector):
    raw_type = "file"
    content_type = "text/csv"

    config_spec = """
        [demo_csv_collector]
        state_dir :: path
        url :: str
    """

    def get_source_channel(self, **processed_data):
        return "advisories-csv"

    def obtain_data(self, newest_time):
        url = self.config["url"]
        if newest_time is not None:
            # `from=` is inclusive: rows that appeared at exactly `newest_time`
            # after the last run come back too (the base class drops the repeats).
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(
                {"from": newest_time}
            )
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode("utf-8")

    def split_data_into_rows(self, data):
        return list(csv.DictReader(io.StringIO(data)))

    def extract_row_time(self, row):
        # ISO 8601 in UTC, e.g. 2026-11-27T20:00:00Z: sorts like the time
        return row["time"]

    def extract_row_key(self, row):
        return int(row["id"])

    def format_output_body(self, rows):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


main = collector_main(DemoCsvCollector)

if __name__ == "__main__":
    sys.exit(main())
