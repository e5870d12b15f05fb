"""The figures of docs/several-hosts.md that are not printed by running code: the `[postgresql]`
options table's defaults, how long a vanished host keeps its lock (both from the store's spec),
and how close to the run's deadline a statement is given up (the store's constants).
"""

from __future__ import annotations

import re

import pytest

from stateful_collectors.state.stores import postgresql
from stateful_collectors.state.stores.postgresql import _SPEC
from tests.support import ROOT

PAGE = ROOT / "docs" / "several-hosts.md"
OPTIONS = _SPEC.sections["postgresql"].options


def options_table() -> dict[str, str]:
    """Option name -> the default the page's table shows (`` when it shows none)."""
    lines = PAGE.read_text().splitlines()
    start = lines.index("| option | default | meaning |") + 2
    shown: dict[str, str] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        names, defaults = (cell.strip() for cell in line.strip("|").split("|")[:2])
        names = re.findall(r"`([^`]+)`", names)
        values = re.findall(r"`([^`]*)`", defaults) or [""] * len(names)
        assert len(values) == len(names), line
        shown.update(zip(names, values, strict=True))
    return shown


def test_the_options_table_lists_every_option_with_its_default():
    shown = options_table()
    assert sorted(shown) == sorted(OPTIONS)
    for name, default in shown.items():
        assert default == (OPTIONS[name].default or ""), name


def test_the_time_a_vanished_host_keeps_its_lock_is_the_defaults_sum():
    idle, interval, count = (
        int(OPTIONS[name].default)
        for name in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    text = " ".join(PAGE.read_text().split())
    assert f"the *partition bound*, {idle + interval * count} s with the defaults." in text


@pytest.mark.parametrize(
    "phrase, value",
    [
        (r"a statement is given up ([\d.]+) s before it", postgresql.GIVE_UP_BEFORE_DEADLINE),
        (
            r"starts in the last ([\d.]+) s before the deadline",
            postgresql.GIVE_UP_BEFORE_DEADLINE + postgresql.LEAST_WAIT,
        ),
        (r"still gets ([\d.]+) s", postgresql.LEAST_WAIT),
        (r"ends at most ([\d.]+) s after the deadline", postgresql.DEADLINE_OVERRUN),
    ],
)
def test_the_deadlines_figures_are_the_stores(phrase: str, value: float):
    found = re.search(phrase, " ".join(PAGE.read_text().split()))
    assert found, f"{phrase!r} is gone from the page; update this test with it"
    assert float(found.group(1)) == value
