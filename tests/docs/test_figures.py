"""Figures in prose match what they quote; the Performance page's table is consistent.

Every number in the prose of the Performance page (docs/about/performance.md)
is one of the figures below, each checked against the code it quotes (a bar,
a buffer size) or against the table the harness generated
(docs/assets/benchmarks-table.md), whose rows name the workloads. A number
that none of them covers fails the sweep: quote it from a source, or leave it
out. The table the page includes shows one figure per measurement, no machine
details that date it (the kernel's build, the load average), and no count of
tests. (The bars and test parameters quoted on other pages are checked by
test_site.py.)
"""

from __future__ import annotations

import inspect
import re

import pytest

from tests.support import ROOT

PAGE = ROOT / "docs" / "about" / "performance.md"
TABLE = ROOT / "docs" / "assets" / "benchmarks-table.md"


def _prose(text: str) -> str:
    """The page without its fenced blocks, its include line and its image."""
    text = re.sub(r"(?ms)^```.*?^```$", "", text)
    text = re.sub(r'(?m)^--8<-- ".*"$', "", text)
    return re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)


def _code_value(name: str) -> float:
    from benchmarks import postgresql_state, publishing, rows_feed, state_io, whole_run
    from stateful_collectors import fs
    from stateful_collectors.sinks import amqp

    values = {
        "SAVE_BAR": state_io.SAVE_BAR,
        "SAVE_THROUGHPUT_BAR": state_io.SAVE_THROUGHPUT_BAR,
        "LOAD_BAR": state_io.LOAD_BAR,
        "LOAD_THROUGHPUT_BAR": state_io.LOAD_THROUGHPUT_BAR,
        "PG_BARS": postgresql_state.SAVE_BAR,
        "RATE_BAR": publishing.RATE_BAR,
        "MEMORY_BAR": publishing.MEMORY_BAR,
        "NOTHING_NEW_BAR": whole_run.NOTHING_NEW_BAR,
        "GROWTH_PERCENT": round((whole_run.GROWTH_BAR - 1) * 100),
        "ROWS_TIME_BAR": rows_feed.TIME_BAR,
        "ROWS_MEMORY_BAR": rows_feed.MEMORY_BAR,
        "BUFFER_MIB": amqp._MAX_BUFFERED_BYTES / (1 << 20),
        "STREAM_ABOVE_MIB": inspect.signature(fs.open_private_reader)
        .parameters["stream_above"]
        .default
        / (1 << 20),
    }
    assert postgresql_state.SAVE_BAR == postgresql_state.LOAD_BAR  # "Both bars are ..."
    return values[name]


CODE = [
    (r"The bar is ([\d.]+)x: the library may add", "SAVE_BAR"),
    (r"at least ([\d.]+)x of the hand-written save", "SAVE_THROUGHPUT_BAR"),
    (r"The bar is ([\d.]+)x, checks included", "LOAD_BAR"),
    (r"at least ([\d.]+)x of the plain\s+load", "LOAD_THROUGHPUT_BAR"),
    (r"Up to ([\d.]+) MiB the library reads the file in one", "STREAM_ABOVE_MIB"),
    (r"A state over ([\d.]+) MiB is now unpickled", "STREAM_ABOVE_MIB"),
    (r"Both bars are ([\d.]+)x", "PG_BARS"),
    (r"bar is at least ([\d.]+)x the baseline's rate", "RATE_BAR"),
    (r"its peak publishing [\d,]+; the bar is ([\d.]+)x", "MEMORY_BAR"),
    (r"The bar is ([\d.]+)x\.\n", "NOTHING_NEW_BAR"),
    (r"\(within (\d+)%\)", "GROWTH_PERCENT"),
    (r"may take at most ([\d.]+)x the script's time", "ROWS_TIME_BAR"),
    (r"may be at most ([\d.]+)x the script's:", "ROWS_MEMORY_BAR"),
    (r"once more than (\d+) MiB of frames are pending", "BUFFER_MIB"),
]
"""A phrase of the page and the constant its figure quotes."""

TABLE_ROWS = [
    (r"pickle the same (1) KiB state", r"save_state, {0} KiB state \|"),
    (r"For a (10) MiB\s+state the bar is on throughput \(", r"save_state, {0} MiB state"),
    (r"For a (10) MiB state the bar is on throughput: at least", r"load_state, {0} MiB state"),
    (r"the same (1) KiB JSON state", r"PostgreSQL store: save_state, {0} KiB state"),
    (
        r"Both publish the same\s+([\d,]+) persistent (\d+) KiB messages",
        r"publishing {0} x {1} KiB, confirms",
    ),
    (
        r"peak resident memory publishing ([\d,]+) messages with\s+its peak publishing ([\d,]+);",
        r"peak memory, {0} vs {1} messages",
    ),
    (
        r"A run that finds (\d+) new items must take the same time \(within \d+%\) whether\s+"
        r"the feed holds ([\d,]+) or ([\d,]+) older items",
        r"growth: run finding {0} new items, {2} vs {1} old",
    ),
    (
        r"a file of ([\d,]+) rows \(its size is in\s+the table\), runs the collector once over "
        r"its first ([\d,]+) rows",
        r"time-ordered rows, {0} CSV rows \(\d+ MiB\)",
    ),
    (r"each finding the ([\d,]+) new\s+rows", r"CSV rows \(\d+ MiB\), {0} new: run time"),
    (r"\* Loading a (1) KiB state missed its bar", r"load_state, {0} KiB state"),
    (r"\* Loading a (10) MiB state missed its throughput bar", r"load_state, {0} MiB state"),
    (r"\* Saving a (1) KiB state went over its bar", r"save_state, {0} KiB state"),
    (
        r"\* Publishing ([\d,]+) messages missed its memory bar against publishing\s+([\d,]+):",
        r"peak memory, {0} vs {1} messages",
    ),
]
"""A phrase of the page and the generated table's row that holds the same figures."""

NOT_FIGURES = [
    r'so 1\.0 means "as fast as the baseline"',  # the chart's scale, defined here
    r"SHA-256",  # a name
]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.parametrize(("phrase", "name"), CODE, ids=[name for _, name in CODE])
def test_a_bar_or_size_in_prose_is_the_codes(phrase: str, name: str) -> None:
    match = re.search(phrase, PAGE.read_text(encoding="utf-8"))
    assert match, f"docs/about/performance.md: {phrase!r} is gone; update this test"
    assert _number(match.group(1)) == pytest.approx(_code_value(name)), (phrase, name)


@pytest.mark.parametrize(("phrase", "row"), TABLE_ROWS)
def test_a_workload_in_prose_is_the_generated_tables(phrase: str, row: str) -> None:
    match = re.search(phrase, PAGE.read_text(encoding="utf-8"))
    assert match, f"docs/about/performance.md: {phrase!r} is gone; update this test"
    wanted = row.format(*(re.escape(group) for group in match.groups()))
    assert re.search(wanted, TABLE.read_text(encoding="utf-8")), f"no table row {wanted!r}"
    if "its first" in phrase:  # the rows of the run before: all but the new ones
        rows = re.search(r"CSV rows \(\d+ MiB\), ([\d,]+) new", TABLE.read_text()).group(1)
        assert _number(match.group(2)) == _number(match.group(1)) - _number(rows)


def test_every_number_in_the_pages_prose_is_checked() -> None:
    prose = _prose(PAGE.read_text(encoding="utf-8"))
    covered: list[tuple[int, int]] = []
    for phrase in [phrase for phrase, _ in CODE + TABLE_ROWS] + NOT_FIGURES:
        covered += [match.span() for match in re.finditer(phrase, prose)]
    unchecked = [
        " ".join(prose[max(0, m.start() - 40) : m.end() + 20].split())
        for m in re.finditer(r"(?<![\w.-])\d[\d,.]*", prose)
        if not any(start <= m.start() < end for start, end in covered)
    ]
    assert not unchecked, "figures with no source:\n" + "\n".join(unchecked)


def test_the_included_table_has_one_figure_per_measurement_and_nothing_that_dates() -> None:
    table = TABLE.read_text(encoding="utf-8")
    assert "kernel" not in table and "load average" not in table
    assert not re.search(r"\d+ passed", table), "a count of tests goes stale"
    assert "file store |" not in table, "the file store's figures come from its own rows"
    rows = [line.split(" | ")[0].lstrip("| ") for line in table.splitlines() if line[:2] == "| "]
    assert len(rows) == len(set(rows)), "a measurement in two rows"


def test_the_page_include_leaves_out_what_would_date_or_repeat() -> None:
    from benchmarks.report import docs_include
    from benchmarks.results import Row

    machine = {
        "date": "2026-11-27 20:00 UTC",
        "CPU": "Some CPU",
        "cores": "2",
        "kernel": "Linux 6.1.2-build-7",
        "load average at the start (1, 5, 15 min)": "5.03, 2.48, 2.00",
    }
    rows = [
        Row("save_state, 1 KiB state", "614 µs", "595 µs hand-written", "1.04x", "", "pass"),
        Row("PostgreSQL store vs file store: save_state, 1 KiB", "443 µs", "1000 µs file store"),
        Row("test suite: uv run pytest", "233 s", "-", "", "", "929 passed, 2 skipped"),
    ]
    page = docs_include(rows, machine)
    assert "Some CPU" in page and "Measured on 2026-11-27 20:00 UTC" in page
    assert "Linux 6.1.2" not in page and "5.03" not in page
    assert "1000 µs" not in page and "614 µs" in page
    assert "929 passed" not in page and "| test suite: uv run pytest | 233 s |" in page


def _elsewhere(name: str) -> float:
    from tests.docs import test_reading_path
    from tests.reliability import test_kill_during_save, test_single_instance
    from tests.support import mounts

    return {
        "INSTANCES": test_single_instance.INSTANCES,
        "OTHERS": test_single_instance.INSTANCES - 1,
        "KILLS_WANTED": test_kill_during_save.KILLS_WANTED,
        "TMPFS_KIB": int(
            inspect.signature(mounts.tmpfs).parameters["size"].default.removesuffix("k")
        ),
        "WORDS_BEFORE_THE_CODE": test_reading_path.WORDS_BEFORE_THE_CODE,
        "STATEFUL_COLLECTORS_WORDS": test_reading_path.STATEFUL_COLLECTORS_WORDS,
    }[name]


ELSEWHERE = [
    ("production.md", r"Started (\w+) at\s+once, exactly one instance", "INSTANCES"),
    ("production.md", r"and the (\w+) others\s+exit\s+with status 5", "OTHERS"),
    ("about/tests.md", r"renaming\), at least (\d+)\s+times", "KILLS_WANTED"),
    ("about/tests.md", r"a real (\d+) KiB `tmpfs`", "TMPFS_KIB"),
    ("about/tests.md", r"within ([\d,]+) words of the start", "WORDS_BEFORE_THE_CODE"),
    ("about/tests.md", r"\*Stateful collectors\* within ([\d,]+)", "STATEFUL_COLLECTORS_WORDS"),
]
"""Figures of other pages that quote a test's parameters (test_site.py checks more)."""


@pytest.mark.parametrize(("page", "phrase", "name"), ELSEWHERE, ids=[n for *_, n in ELSEWHERE])
def test_prose_elsewhere_quotes_the_tests_parameters(page: str, phrase: str, name: str) -> None:
    words = {"eight": 8, "seven": 7}
    match = re.search(phrase, (ROOT / "docs" / page).read_text(encoding="utf-8"))
    assert match, f"docs/{page}: {phrase!r} is gone; update this test"
    quoted = match.group(1)
    value = words[quoted] if quoted in words else _number(quoted)
    assert value == _elsewhere(name), (page, quoted)
