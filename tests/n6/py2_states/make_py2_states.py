"""Write the state files an n6 collector running on Python 2 would have saved (pickle protocol 2).

Run with Python 2.7: `python2.7 make_py2_states.py DIRECTORY`. The tests run it
when a Python 2.7 is there and check the files kept next to it are these bytes.
"""

import datetime
import os
import pickle
import sys

directory = sys.argv[1]

# A rows collector's state, its rows str (UTF-8 bytes, as Python 2 read them).
rows = {
    "newest_row_time": "2026-11-27 20:01:00",
    "newest_rows": set(
        [
            "2026-11-27 20:01:00,b2.example,low",
            "2026-11-27 20:01:00,b1-\xc5\xbc\xc3\xb3\xc5\x82w.example,low",
        ]
    ),
    "rows_count": 3,
}
with open(os.path.join(directory, "blocklist.pickle"), "wb") as state_file:
    pickle.dump(rows, state_file, 2)

# An events collector's state under the names its Python 2 version used, with a datetime.
events = {
    "lastEventId": 1,
    "attachmentsDone": [11],
    "savedAt": datetime.datetime(2020, 1, 2, 3, 4, 5, 678901),
}
with open(os.path.join(directory, "events.pickle"), "wb") as state_file:
    pickle.dump(events, state_file, 2)
