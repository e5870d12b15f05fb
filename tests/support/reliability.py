"""The reliability tests' summary lines, and snapshots of the directories they break.

Every reliability test reports its counts in one line through the `summary`
fixture. The lines are printed in a "reliability summary" section at the end
of the run, so they show in a normal run and with `pytest -s` alike.
(tests/conftest.py registers this module as a plugin: the fixture and the hook.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["snapshot_files", "summary", "temp_files"]

_SUMMARY_LINES: list[str] = []
_PROPERTY = "reliability_summary"


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Call `summary("kills: 500, ...")` once; the line is printed at the end of the run."""
    name = request.node.nodeid.rpartition("/")[2]

    def record(line: str) -> None:
        # Carried by the test's report, so that it reaches the terminal also from a
        # pytest-xdist worker.
        request.node.user_properties.append((_PROPERTY, f"{name}: {line}"))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _SUMMARY_LINES.extend(value for key, value in report.user_properties if key == _PROPERTY)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _SUMMARY_LINES:
        terminalreporter.section("reliability summary")
        for line in sorted(_SUMMARY_LINES):
            terminalreporter.write_line(line)


def snapshot_files(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every regular file under `directory`: its bytes, mtime (ns) and mode."""
    found = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(directory))] = (
                path.read_bytes(),
                info.st_mtime_ns,
                info.st_mode,
            )
    return found


def temp_files(directory: Path) -> list[str]:
    """The temporary files a save leaves behind if it is cut short (`.NAME.xxxx.tmp`)."""
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))
