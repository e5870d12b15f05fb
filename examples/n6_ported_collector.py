"""A collector written as n6 4.x writes its CSV collectors, running on this library.

It collects the demo feed's CSV file (`/items.csv`, newest rows added at the
end) the way n6's time-ordered rows collectors collect theirs: a
`BaseDownloadingTimeOrderedRowsCollector` with a `config_spec_pattern`,
`get_source()`, each row's time picked and cleaned, and the module's
`<ClassName>_main` entry point functions. The base class downloads the `url`
option, publishes the new rows as one message and saves its state in
`after_completed_publishing()`, once that message is confirmed.

What changed from n6: the imports, which name `stateful_collectors.n6`
where n6 names `n6datasources.collectors.base` and `n6lib.config`.
"""

import datetime

from stateful_collectors.n6 import (
    BaseDownloadingTimeOrderedRowsCollector,
    add_collector_entry_point_functions,
    combined_config_spec,
)


class DemoFeedItemsCsvCollector(BaseDownloadingTimeOrderedRowsCollector):
    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        download_timeout = 30 :: download_timeout
    """)

    raw_type = "file"
    content_type = "text/csv"

    time_field_index = 1

    def get_source(self, **processed_data):
        return "demo-feed.items-csv"

    def should_row_be_used(self, row):
        # not the header line either
        return super().should_row_be_used(row) and not row.startswith("id,")

    def pick_raw_row_time(self, row):
        return row.split(",")[self.time_field_index]

    def clean_row_time(self, raw_row_time):
        # ISO 8601 in UTC, whole seconds: such strings sort like the times
        moment = datetime.datetime.fromisoformat(raw_row_time)
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


add_collector_entry_point_functions(__name__)
