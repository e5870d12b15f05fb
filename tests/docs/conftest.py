"""The docs tests' options, their summary line, the update mode, and the built site.

`--update-docs` (give it with a path under tests/docs, e.g.
`uv run pytest tests/docs --update-docs`, so pytest loads this file first)
rewrites what the pages show: the `#>` lines of python blocks (through
pytest-examples' own update mode) and the output in console transcripts.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from transcripts import PENDING_UPDATES, apply_updates

ROOT = Path(__file__).resolve().parents[2]

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
            line += f", {counts['included']} included from examples/ (run by test_examples.py)"
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


# ---------------------------------------------------------------- the built site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide built with `mkdocs build --strict` into a temporary directory."""
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stderr[-5000:]}", pytrace=False)
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="module")
def served_site(built_site: Path):
    """The built site served over HTTP on a free loopback port; yields its base URL.

    Module-scoped: its server thread must be gone before later tests fork.
    """

    def handler(*args, **kwargs):
        return _QuietHandler(*args, directory=str(built_site), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
