"""What the tests share: where things are, and a clean environment for child processes.

Every test module imports its helpers one way, `from tests.support.<module>
import ...`; pytest puts the repository root and `examples/` on `sys.path`
(`pythonpath` in pyproject.toml), so the example programs import as
top-level modules (`from my_statefull_collector import MyStatefullCollector`).

* `broker`: the session's RabbitMQ node (`broker`, `bound_queue`) and
  `local_broker()` for the benchmarks;
* `processes`: the `stateful-collectors` command and the example programs run
  as real processes, and what the tests check about them;
* `collectors/`: small collectors the tests use; those run as processes are
  modules of their own (`tests.support.collectors.cli:Counter`);
* `probe`: the broker tests' `probe` fixture around `collectors/probe.py`;
* `examples`: the guide's collectors run the way the guide runs them;
* `reliability`: the `summary` fixture (the reliability summary lines) and
  directory snapshots;
* `mounts`: small real file systems (a tmpfs, read-only on demand) for the
  tests that fill a disk; always unmounted, even when a test fails;
* `partitions`: real network partitions: hosts in network namespaces, cut off
  from a PostgreSQL server of their own silently; always removed, even when a
  test fails;
* `docs/`: the docs tests' harness (fences, console transcripts, python
  blocks, the `--update-docs` option and the summary lines);
* `site`: the built guide (`built_site`; `zensical_site`, built by Zensical) and an
  HTTP server for it (`served_site`, `serve_directory`);
* `browser`: headless Chromium (`chromium`) and the checks run in its pages.

The fixtures are registered once, by `pytest_plugins` in tests/conftest.py.
This module imports nothing but `os` and `pathlib`: the collectors that
`tests/unit/test_run_imports.py` runs in a fresh interpreter import it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
EXAMPLES = ROOT / "examples"
"""The guide's example programs (`examples/*.py`) and their config files."""
EXAMPLE_TESTS = ROOT / "tests" / "examples"
"""Their tests: `examples/NAME.py` is tested by `tests/examples/test_NAME.py`."""

ENV_PREFIX = "STATEFUL_COLLECTORS_"
"""The library's environment variables (outbox, broker URL, config file...) and the tests'."""

__all__ = [
    "ENV_PREFIX",
    "EXAMPLES",
    "EXAMPLE_TESTS",
    "ROOT",
    "clean_env",
    "example_test_file",
    "skip_unless_required",
]


def clean_env(**overrides: str | None) -> dict[str, str]:
    """`os.environ` without any `STATEFUL_COLLECTORS_*` variable, then `overrides` applied.

    A variable set in the test run (a broker URL, an outbox, a config file)
    would otherwise redirect the collector a child process runs. An override
    of `None` removes that variable: `clean_env(PYTHONPATH=None, TMPDIR="/x")`.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def example_test_file(program: Path) -> Path:
    """The test module of an example program: `examples/x.py` -> `tests/examples/test_x.py`."""
    return EXAMPLE_TESTS / f"test_{program.stem}.py"


def skip_unless_required(reason: str, require_env_var: str) -> NoReturn:
    """Skip the test for `reason`; fail instead when `require_env_var` is `1` (as in CI).

    CI sets the variable for what it installs (the broker, PostgreSQL, Chromium,
    network namespaces), so a test it expects to run can never pass by skipping.
    """
    import pytest

    if os.environ.get(require_env_var) == "1":
        pytest.fail(f"{reason} ({require_env_var}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)
