"""The shared-feed collector with a large state, for the partition tests (tests/reliability).

`PartitionedFeedCollector` is `SharedFeedCollector` (read it first) with two
more options: `padding`, the number of bytes of filler its JSON state carries
(so that loading or saving it keeps data in flight on a throttled link for a
while), and `lane`, a name added to the state's row key, so that runs of
several independent lanes can share one table. It keeps
`{"last_id": N, "padding": "xx..."}`. When it is made (just after the run's
deadline started), it notes its pid and `time.monotonic()` (one clock for
every process of the machine) in `began_log`, so that a test can tell how
far past its deadline a run ended.
"""

import os
import time

from tests.support.collectors.shared_feed import SharedFeedCollector


class PartitionedFeedCollector(SharedFeedCollector):
    config_spec = (
        SharedFeedCollector.config_spec
        + """
        padding = 0 :: int
        lane = :: str
        began_log = :: str
    """
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.config["began_log"]:
            with open(self.config["began_log"], "a") as log:
                log.write(f"{os.getpid()} {time.monotonic()}\n")

    def get_state_file_name(self):
        lane = self.config["lane"]
        name = super().get_state_file_name()
        return name.replace(".json", f"-{lane}.json") if lane else name

    def make_default_state(self):
        return {"last_id": 0, "padding": ""}

    def save_state(self, state):
        super().save_state({**state, "padding": "x" * self.config["padding"]})
