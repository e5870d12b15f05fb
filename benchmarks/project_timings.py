"""Context, no bar: how long the guide takes to build and the test suite to run.

Both are whole processes timed from outside: `mkdocs build --strict` into a
temporary directory, and `uv run pytest` (the README's test command) once.
The test suite runs this harness in `--quick` mode, so a `--quick` run skips
the suite here; otherwise each would start the other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import interleave, median, run_process
from benchmarks.results import Row, error_row, format_seconds

__all__ = ["run_project_timings"]

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["NO_MKDOCS_2_WARNING"] = "1"  # mkdocs-material's banner, not the build's output
    return env


def _mkdocs_build(site_dir: str) -> float:
    argv = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", site_dir]
    return run_process(argv, cwd=ROOT, env=_env(), timeout=600)


def _test_suite() -> tuple[float, str]:
    uv = shutil.which("uv")
    argv = [uv, "run", "pytest", "-q"] if uv else [sys.executable, "-m", "pytest", "-q"]
    started = time.perf_counter()
    completed = subprocess.run(
        argv,
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$", completed.stdout, re.M)
    for line in completed.stdout.splitlines():  # say which, on stderr: the table has one line
        if line.startswith(("FAILED ", "ERROR ")):
            print(f"  test suite: {line}", file=sys.stderr)
    outcome = summary[-1] if summary else f"exit status {completed.returncode}"
    outcome = re.sub(r" in [\d.]+s.*$", "", outcome)  # the wall time is measured here
    return elapsed, outcome


def run_project_timings(*, quick: bool = False) -> list[Row]:
    """Time the site build and (not in --quick) the test suite; the table's rows."""
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-site-") as site_dir:
            builds = interleave({"build": lambda: _mkdocs_build(site_dir)}, 1 if quick else 3, 0)
        rounds = len(builds["build"])
        rows.append(
            Row(
                "mkdocs build --strict",
                format_seconds(median(builds["build"])),
                "-",
                "",
                "",
                f"context (median of {rounds})" if rounds > 1 else "context",
            )
        )
    except Exception as exc:  # the table says what went wrong; the run fails
        rows.append(error_row("mkdocs build --strict", exc))
    if quick:
        rows.append(Row("test suite: uv run pytest", "-", "-", "", "", "skipped in --quick"))
    else:
        elapsed, outcome = _test_suite()
        rows.append(Row("test suite: uv run pytest", format_seconds(elapsed), "-", "", "", outcome))
    return rows
