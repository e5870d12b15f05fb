"""n6 4.40's time-ordered rows collectors here: n6's order, `self._state`, its count-problem hook.

The source is a list the test changes between runs; each run is a real run
into an outbox, with the state in a real file.
"""

from __future__ import annotations

import logging
import pickle

import pytest

from stateful_collectors.n6 import BaseTimeOrderedRowsCollector
from stateful_collectors.testing import collect

SOURCE: list[str] = []


class Rows(BaseTimeOrderedRowsCollector):
    def get_source(self, **processed_data):
        return "example.rows"

    def obtain_orig_data(self):
        return "\n".join(SOURCE).encode()

    def pick_raw_row_time(self, row):
        return row.split(",")[0]

    def clean_row_time(self, raw_row_time):
        return raw_row_time


class OwnInputPile(Rows):
    """Sets `self._state` in its own `obtain_input_pile()`, as n6's abuse_ch.py collectors do."""

    def obtain_input_pile(self, **_kwargs):
        self._state = self.load_state()
        fresh_rows = self.get_fresh_rows_only(self.all_rows_from_orig_data(self.obtain_orig_data()))
        return [row.upper() for row in fresh_rows] or None


class DuplicatesOnly(Rows):
    """Checks duplicates only, as n6's cert_pl.py does (its source drops old rows)."""

    def _generate_count_mismatch_problems(self, prev_rows_count, rows_count, fresh_rows):
        if len(fresh_rows) != len(set(fresh_rows)):
            yield "Found duplicates among the fresh rows."


def config(tmp_path, fatal=False):
    return f"[{{}}]\nstate_dir = {tmp_path}\nrow_count_mismatch_is_fatal = {fatal}\n"


@pytest.fixture(autouse=True)
def source():
    SOURCE[:] = ["# time,name", "10:01,b", "10:01,a", "10:00,z"]
    yield SOURCE


def test_rows_of_one_time_come_out_in_n6s_order(tmp_path):
    run = collect(Rows, config(tmp_path).format("Rows"))
    assert run.bodies == [b"10:00,z\n10:01,a\n10:01,b"]  # 10:01's rows reversed, as n6 does
    SOURCE[1:1] = ["10:02,d", "10:01,c"]
    assert collect(Rows, config(tmp_path).format("Rows")).bodies == [b"10:01,c\n10:02,d"]


def test_a_collector_that_sets_self_state_itself(tmp_path):
    text = config(tmp_path).format("OwnInputPile")
    assert collect(OwnInputPile, text).bodies == [b"10:00,Z\n10:01,A\n10:01,B"]
    SOURCE.insert(1, "10:03,e")
    second = collect(OwnInputPile, text)
    assert second.bodies == [b"10:03,E"]
    assert second.state["newest_row_time"] == "10:03"
    assert collect(OwnInputPile, text).bodies == []


def test_the_count_check_and_its_n6_hook(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    collect(Rows, config(tmp_path).format("Rows"))
    SOURCE.append("09:00,late")  # a row older than all published: never published
    SOURCE.insert(1, "10:05,f")
    assert collect(Rows, config(tmp_path).format("Rows")).bodies == [b"10:05,f"]
    assert (
        "the source holds 5 row(s), 1 more than the 3 of the last run plus the 1 new" in caplog.text
    )

    (tmp_path / "again").mkdir()
    collect(DuplicatesOnly, config(tmp_path / "again").format("DuplicatesOnly"))
    caplog.clear()
    SOURCE.append("08:00,late")
    SOURCE.insert(1, "10:06,g")
    assert collect(DuplicatesOnly, config(tmp_path / "again").format("DuplicatesOnly")).bodies == [
        b"10:06,g"
    ]
    assert caplog.text == ""  # its hook yields no count problem


def test_row_count_mismatch_is_fatal_fails_the_run_before_publishing(tmp_path):
    collect(Rows, config(tmp_path, fatal=True).format("Rows"))
    SOURCE.insert(1, "10:07,h")
    SOURCE.insert(1, "10:07,h")
    with pytest.raises(
        ValueError, match=r"Found duplicates among the fresh rows\..*nothing published"
    ):
        collect(Rows, config(tmp_path, fatal=True).format("Rows"))


def test_a_state_file_n6_saved_is_taken_over(tmp_path):
    n6_state = {"newest_row_time": "10:01", "newest_rows": {"10:01,a", "10:01,b"}, "rows_count": 3}
    (tmp_path / f"{__name__}.Rows.pickle").write_bytes(pickle.dumps(n6_state, protocol=4))
    SOURCE.insert(1, "10:02,c")
    run = collect(Rows, config(tmp_path).format("Rows"))
    assert run.bodies == [b"10:02,c"]
    assert run.state["rows_count"] == 4
