"""The `postgresql` fixture, no server binaries: a skip with the install hint, or a failure.

Each case runs one real PostgreSQL test in a child pytest, with
`STATEFUL_COLLECTORS_POSTGRESQL_BIN` pointing at an empty directory, which is
what a machine without Debian's postgresql looks like to the fixture.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT, clean_env

TEST = "tests/integration/test_postgresql_store.py::test_the_store_can_be_used_on_its_own"


def run_without_server(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "no-postgresql"
    empty.mkdir()
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", TEST, "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=clean_env(STATEFUL_COLLECTORS_POSTGRESQL_BIN=str(empty), **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_server_skips_with_the_install_hint(tmp_path):
    done = run_without_server(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "apt-get install postgresql" in done.stdout


def test_ci_turns_the_skip_into_a_failure(tmp_path):
    done = run_without_server(tmp_path, STATEFUL_COLLECTORS_REQUIRE_POSTGRESQL="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "STATEFUL_COLLECTORS_REQUIRE_POSTGRESQL=1 forbids skipping" in done.stdout
    assert "apt-get install postgresql" in done.stdout
