"""The docs tests' pytest plugin: the `--update-docs` option, the summary lines, the update mode.

`uv run pytest tests/docs --update-docs` rewrites what the pages show: the
`#>` lines of python blocks (through pytest-examples' own update mode) and
the output in console transcripts. tests/conftest.py registers this module,
so the option exists whichever tests are run.

How to write a page that passes the docs tests: docs/about/writing-pages.md.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.support.docs.transcripts import PENDING_UPDATES, apply_updates

_block_outcomes: dict[str, str] = {}
_transcript_commands: dict[str, int] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("docs").addoption(
        "--update-docs",
        action="store_true",
        help="rewrite the docs' #> print lines and console transcript outputs in place",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("update_docs", False):
        config.option.update_examples = True  # pytest-examples' update mode, for #> lines


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    properties = dict(report.user_properties)
    if "::test_python_block[" in report.nodeid:
        if report.failed:
            _block_outcomes[report.nodeid] = "failed"
        elif report.skipped:
            _block_outcomes[report.nodeid] = "skipped"
        elif report.when == "call":
            _block_outcomes[report.nodeid] = properties.get("docs_block", "ran")
    if "transcript_commands" in properties and report.when == "call":
        _transcript_commands[report.nodeid] = properties["transcript_commands"]


def pytest_terminal_summary(terminalreporter) -> None:
    if _block_outcomes:
        counts = Counter(_block_outcomes.values())
        line = f"docs blocks: {counts['ran']} ran, {counts['skipped']} skipped (with reasons)"
        if counts["included"]:
            line += f", {counts['included']} included from examples/ (run by tests/examples/)"
        if counts["failed"]:
            line += f", {counts['failed']} failed"
        terminalreporter.write_line(line)
    if _transcript_commands:
        terminalreporter.write_line(
            f"console transcripts: {sum(_transcript_commands.values())} commands replayed "
            f"on {len(_transcript_commands)} page(s)"
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if PENDING_UPDATES:
        for line in apply_updates(PENDING_UPDATES):
            print(f"\n--update-docs: {line}", file=sys.stderr)
        PENDING_UPDATES.clear()
