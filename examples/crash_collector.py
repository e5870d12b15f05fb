"""MyStatefullCollector, killed on purpose at one point of its run (for the crash
guide).

Set `CRASH_AT` to one of the points in `CRASH_POINTS` and the process sends
itself SIGKILL there: no `except`, no `finally`, no clean-up runs, exactly as
when the kernel's out-of-memory killer or `kill -9` ends a process. Without
`CRASH_AT` it runs like `MyStatefullCollector`. Its state file is its own
(`crash_collector.CrashingCollector.pickle`), and it reads the same config:

    CRASH_AT=before-save stateful-collectors run crash_collector:CrashingCollector \
        --config my_statefull_collector.conf
"""

import os
import signal

from my_statefull_collector import MyStatefullCollector

CRASH_POINTS = (
    "before-download",
    "after-download",
    "before-confirm",
    "before-save",
    "after-save",
)


class CrashingCollector(MyStatefullCollector):
    def _download(self, url, only_newer_than):
        self._crash_if_asked("before-download")
        data = super()._download(url, only_newer_than)
        self._crash_if_asked("after-download")
        return data

    def start_publishing(self):
        super().start_publishing()  # the message is handed over, not yet confirmed
        self._crash_if_asked("before-confirm")

    def save_state(self, state):
        self._crash_if_asked("before-save")  # every message is confirmed by now
        super().save_state(state)
        self._crash_if_asked("after-save")

    def _crash_if_asked(self, point):
        wanted = os.environ.get("CRASH_AT")
        if wanted not in (None, "", *CRASH_POINTS):
            raise ValueError(
                f"CRASH_AT={wanted!r}; use one of: {', '.join(CRASH_POINTS)}"
            )
        if wanted == point:
            os.kill(os.getpid(), signal.SIGKILL)
