"""A rows collector shaped like n6 4.40's cert_pl.py: its URL hard-wired in `set_configuration()`.

Its pattern is a plain string (not `combined_config_spec()`), so it replaces
the base classes' options: the collector declares every option it reads,
and `set_configuration()` then writes `url` and `row_count_mismatch_is_fatal`
into `self.config`. Rows that share a time come out in n6's order. The tests
copy this file with the port of their local source in `URL`.
"""

from stateful_collectors.n6 import (
    BaseDownloadingTimeOrderedRowsCollector,
    add_collector_entry_point_functions,
)

URL = "http://127.0.0.1:8808/blocklist.csv"


class BlocklistCollector(BaseDownloadingTimeOrderedRowsCollector):
    raw_format_version_tag = "202612"

    config_spec_pattern = """
        [{collector_class_name}]
        base_request_headers = {{}} :: py_namespaces_dict
        download_retries = 3 :: int
        download_timeout = (12.1, 25) :: download_timeout
        heartbeat_interval = 60 :: int
        state_dir = ~/.n6state :: path
    """

    def set_configuration(self):
        super().set_configuration()
        self.config["url"] = URL
        self.config["row_count_mismatch_is_fatal"] = False
        assert self.config_full[self.__class__.__name__] is self.config

    def get_source(self, **processed_data):
        return "example-cert.blocklist"

    def pick_raw_row_time(self, row):
        return row.split(",")[0]

    def clean_row_time(self, raw_row_time):
        return raw_row_time.strip()

    def get_py2_pickle_load_kwargs(self):
        return super().get_py2_pickle_load_kwargs() | {
            "encoding": "utf-8",
            "errors": "surrogateescape",
        }


add_collector_entry_point_functions(__name__)
