"""The reliability tests' summary lines: one per test, printed at the end of the run.

Every reliability test reports its counts in one line through the `summary`
fixture. The lines are printed in a "reliability summary" section at the end
of the run, so they show in a normal run and with `pytest -s` alike.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_SUMMARY_LINES = pytest.StashKey[list[str]]()


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Call `summary("kills: 500, ...")` once; the line is printed at the end of the run."""
    lines = request.config.stash.setdefault(_SUMMARY_LINES, [])
    name = request.node.nodeid.rpartition("/")[2]

    def record(line: str) -> None:
        lines.append(f"{name}: {line}")

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(_SUMMARY_LINES, [])
    if lines:
        terminalreporter.section("reliability summary")
        for line in lines:
            terminalreporter.write_line(line)
