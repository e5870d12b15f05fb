"""Fixtures shared by every test (a demo feed on a free port, a private state dir), and the plugins.

The only conftest.py of the tests: every other fixture and hook lives in a
module of tests/support, registered here by `pytest_plugins`, so that any
single test file (or `-k` selection) runs with all of them.
"""

from __future__ import annotations

import compileall
import os
import sysconfig
from pathlib import Path

import pytest

from stateful_collectors.demo import DemoFeed

pytest_plugins = [
    "tests.support.broker",  # broker, bound_queue
    "tests.support.postgresql",  # postgresql, pg_dsn
    "tests.support.partitions",  # partition_network, partition_postgresql, partition_hosts
    "tests.support.probe",  # probe
    "tests.support.examples",  # workdir, sink: the guide's collectors run as the guide says
    "tests.support.reliability",  # summary, and the reliability summary lines
    "tests.support.mounts",  # small_tmpfs: a real 64 KiB file system, always unmounted
    "tests.support.site",  # built_site, zensical_site, served_site
    "tests.support.browser",  # chromium
    "tests.support.docs.plugin",  # --update-docs, and the docs blocks / transcripts lines
]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write the bytecode of the installed packages and of this tree before any test runs.

    The tests start about a thousand Python processes. An installed package runs
    from bytecode written once (by its installer, or by its first import); an
    environment that sets PYTHONDONTWRITEBYTECODE would make every one of those
    processes compile pika, the library and the examples anew (about 0.1 s each).
    """
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller has done it
    root = Path(__file__).resolve().parent.parent
    directories = [Path(sysconfig.get_paths()["purelib"])]
    directories += [root / name for name in ("src", "examples", "tests", "benchmarks")]
    for directory in directories:
        compileall.compile_dir(directory, quiet=2)


@pytest.fixture
def feed_server():
    """A demo feed with 5 items, served on a free loopback port."""
    with DemoFeed(history=5, start="2026-11-27T20:00:00Z").serve() as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty state dir with the mode a collector expects (0700)."""
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    return path
