"""The time-ordered rows collector the big-feed benchmark runs (benchmarks/rows_feed.py).

A `BaseTimeOrderedRowsCollector` over a CSV file on disk (`id,time,severity,title`,
times in ISO 8601 UTC), written the way a user would: the path from the config,
the time from the second column, everything else the base class's defaults
(rows are lines, boundary rows told apart by a digest, one message per run).

    stateful-collectors run benchmarks/rows_collector.py:CsvFileCollector --config FILE
"""

from stateful_collectors import BaseTimeOrderedRowsCollector


class CsvFileCollector(BaseTimeOrderedRowsCollector):
    config_spec = """
        [csv_file]
        state_dir :: path
        path :: str
    """

    def get_source_channel(self, **processed_data):
        return "advisories-csv"

    def obtain_orig_data(self):
        with open(self.config["path"], "rb") as file:
            return file.read()

    def pick_raw_row_time(self, row):
        return row.split(",", 2)[1]

    def clean_row_time(self, raw_row_time):
        return raw_row_time if raw_row_time[:1].isdigit() else None  # None: the header
