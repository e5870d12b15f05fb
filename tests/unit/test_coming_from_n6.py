"""The name table of docs/coming-from-n6.md names only what this library really has.

Every name in backticks in its third column ("This library") that looks like
a Python name must be a public name of the package or of `stateful_collectors.n6`,
an attribute of one of their public classes, an option, converter or state key
of their base classes, or a built-in: a renamed method makes this test fail
until the table follows.
"""

from __future__ import annotations

import builtins
import inspect
import re

import stateful_collectors
import stateful_collectors.n6
from stateful_collectors.collectors import base
from stateful_collectors.collectors.rows import BaseTimeOrderedRowsCollector, RowsSelection
from tests.support import ROOT

PAGE = ROOT / "docs" / "coming-from-n6.md"
NOT_PYTHON = {"fsync", "__bytes__"}
"""Not names of the library: a system call (`os.fsync`), a protocol a body may implement."""


def library_names_in_the_table() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("## Every name", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 40, "the table lost its rows"
    names = []
    for row in rows[1:]:  # the header row names the columns
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3, row
        for code in re.findall(r"`([^`]+)`", cells[2]):
            name = re.sub(r"\(.*\)$", "", code)  # save_state(state) -> save_state
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                names.append(name)
    return names


def known_names() -> set[str]:
    known = set(stateful_collectors.__all__) | {"stateful_collectors"} | NOT_PYTHON
    for name in stateful_collectors.__all__:
        value = getattr(stateful_collectors, name)
        if isinstance(value, type):
            known |= set(dir(value))
    for name in stateful_collectors.n6.__all__:  # what n6's collectors import, and use
        value = getattr(stateful_collectors.n6, name)
        known.add(name)
        if isinstance(value, type):
            known |= set(dir(value))
    known |= set(stateful_collectors.n6.config.N6_CONVERTERS) | {"heartbeat_interval", "heartbeat"}
    known |= {"_state", "cmdline_args", "FLUSH_OUT", "stateful_collectors.n6"}  # set on instances
    known |= set(base.RAW_TYPES) | {"__main__"}  # raw_type values; the script's module name
    download = stateful_collectors.n6.BaseDownloadingCollector.download
    known |= set(inspect.signature(download).parameters)  # method, data, json...
    known |= set(vars(base))  # message_id_for
    known |= set(dir(base.AbstractBaseCollector(config_text="")))  # config, config_full
    for cls in (BaseTimeOrderedRowsCollector, stateful_collectors.BaseDownloadingCollector):
        options = cls.config_spec_pattern_defaults()
        known |= {line.split("=")[0].strip() for line in options.splitlines()}
    known |= set(RowsSelection([], "", [], 0).state())  # the state keys
    known |= {name for name in dir(builtins) if not name.startswith("_")}
    return known


def test_every_library_name_in_the_table_exists():
    names = library_names_in_the_table()
    assert {"BaseSimpleCollector", "config_spec_pattern", "newest_rows"} <= set(names)
    missing = sorted(set(names) - known_names())
    assert not missing, f"docs/coming-from-n6.md names what the library does not have: {missing}"
