"""A real PostgreSQL server for the tests (one per session), and helpers to use it.

The server is Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`),
started once per test session in a temporary directory of its own, on a free
loopback port, with `initdb` and `postgres` run directly (no cluster tools).
PostgreSQL refuses to run as root: when the tests run as root, both run as
the `postgres` system user (`setpriv --reuid=postgres ...`), in a directory
that user owns. The server keeps its default durability (`fsync` on), so a
commit in the tests is a real one; only `initdb` skips its final sync, since
the data directory is thrown away.

Fixtures (tests/conftest.py registers this module in `pytest_plugins`):

* `postgresql` (session): a `PostgresServer`. When the binaries are absent,
  every test that asks for it is skipped with the install hint; with
  `STATEFUL_COLLECTORS_REQUIRE_POSTGRESQL=1` (set by `.ci/run`) it fails instead.
* `pg_dsn` (function): the URL of a fresh, empty database for one test,
  dropped at the end (`postgresql://postgres@127.0.0.1:PORT/test_xxxx`).

`PostgresServer` offers `port`, `dsn(dbname)`, `fresh_database(name, owner)`,
`drop_database(name)`, `execute(dsn, sql, params)` (autocommit, returns the
rows), `backend_pids(dsn, application_name_like)` and `terminate(pid)`.

Outside pytest (the benchmarks, run from the repository root, import it as
`tests.support.postgresql`), `local_postgresql(directory)` starts a private
server the same way and stops it on exit.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import skip_unless_required

REQUIRE_POSTGRESQL_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_POSTGRESQL"
"""Set to 1 (as `.ci/run` does) to turn a missing PostgreSQL into a failure."""
BIN_ENV_VAR = "STATEFUL_COLLECTORS_POSTGRESQL_BIN"
"""A directory holding `initdb` and `postgres`, to use instead of Debian's newest."""
INSTALL_HINT = "install Debian's postgresql (apt-get install postgresql) to run these tests"
SYSTEM_USER = "postgres"
"""The user the server runs as when the tests run as root."""

__all__ = [
    "PostgresServer",
    "local_postgresql",
    "pg_dsn",
    "postgresql",
    "postgresql_bin",
    "postgresql_missing_reason",
]


def postgresql_bin() -> Path | None:
    """The directory of `initdb` and `postgres` (the newest Debian version), or `None`."""
    if os.environ.get(BIN_ENV_VAR):
        return Path(os.environ[BIN_ENV_VAR])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def postgresql_missing_reason() -> str | None:
    """Why no server can be started here, or `None` when it can."""
    directory = postgresql_bin()
    if directory is None or not (directory / "initdb").exists():
        where = directory or "/usr/lib/postgresql/*/bin"
        return f"PostgreSQL (initdb, postgres) not found in {where}; {INSTALL_HINT}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"no '{SYSTEM_USER}' system user to run the server as; {INSTALL_HINT}"
        if shutil.which("setpriv") is None:
            return "setpriv (util-linux) is needed to run the server as 'postgres'"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A private PostgreSQL server: `initdb` in `directory`, then `postgres` on a free port."""

    def __init__(self, directory: Path, *, also_listen: str | None = None) -> None:
        self.directory = Path(directory)
        self.bin = postgresql_bin()
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.also_listen = also_listen
        """Another address to listen on, trusted from its /24 (the partition tests' hosts)."""
        self._process: subprocess.Popen[bytes] | None = None

    # -- starting and stopping

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        if os.geteuid() != 0:
            return list(argv)
        return ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--clear-groups"] + [
            *argv
        ]

    def start(self) -> None:
        assert self.bin is not None
        if os.geteuid() == 0:
            user = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        data, sockets = self.directory / "data", self.directory / "sockets"
        init = subprocess.run(
            self._as_server_user(
                [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
                + ["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        listen = self.host
        if self.also_listen:
            listen += f",{self.also_listen}"
            network = self.also_listen.rpartition(".")[0] + ".0/24"
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {network} trust\n")
        subprocess.run(self._as_server_user(["mkdir", "-m", "0700", str(sockets)]), check=True)
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self._process = subprocess.Popen(
            self._as_server_user(
                [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port)]
                + [
                    "-c",
                    f"listen_addresses={listen}",
                    "-c",
                    f"unix_socket_directories={sockets}",
                ]
                + ["-c", "max_connections=100", "-c", "log_min_messages=warning"]
            ),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                self.execute(self.dsn("postgres"), "SELECT 1")
                return
            except Exception:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start: {tail}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are ended, the server exits."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()

    # -- addresses and databases

    def dsn(self, dbname: str = "postgres", user: str = "postgres", host: str | None = None) -> str:
        """A libpq URL of a database of this server (at `host`, by default the loopback one)."""
        return f"postgresql://{user}@{host or self.host}:{self.port}/{dbname}"

    def execute(self, dsn: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit on `dsn`; its rows (empty for none)."""
        import psycopg

        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def fresh_database(self, name: str | None = None, owner: str | None = None) -> str:
        """Create an empty database (dropping one of that name first); its URL.

        With `owner`, that login role (created if missing) owns it, and the URL is its.
        """
        name = name or f"test_{secrets.token_hex(4)}"
        self.drop_database(name)
        if owner is None:
            self.execute(self.dsn(), f'CREATE DATABASE "{name}"')
            return self.dsn(name)
        if not self.execute(self.dsn(), "SELECT 1 FROM pg_roles WHERE rolname = %s", [owner]):
            self.execute(self.dsn(), f'CREATE ROLE "{owner}" LOGIN')
        self.execute(self.dsn(), f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return self.dsn(name, user=owner)

    def drop_database(self, name: str) -> None:
        self.execute(self.dsn(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def backend_pids(self, dsn: str, application_name_like: str = "%") -> list[int]:
        """The server processes of the sessions whose application_name is LIKE the pattern."""
        rows = self.execute(
            dsn,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE %s AND pid <> pg_backend_pid() ORDER BY pid",
            [application_name_like],
        )
        return [row[0] for row in rows]

    def terminate(self, pid: int) -> bool:
        """`pg_terminate_backend(pid)`: end that session as a lost connection would."""
        return bool(self.execute(self.dsn(), "SELECT pg_terminate_backend(%s)", [pid])[0][0])


@contextlib.contextmanager
def local_postgresql(
    parent: Path | None = None, *, also_listen: str | None = None
) -> Iterator[PostgresServer]:
    """Start a private server for the block (outside pytest too), and remove it after.

    `also_listen`: an address to listen on besides the loopback one (see `PostgresServer`).
    """
    reason = postgresql_missing_reason()
    if reason:
        raise RuntimeError(reason)
    if parent is None and os.geteuid() == 0:
        # Not under $TMPDIR (pytest's temporary directories are private to root), since
        # the server runs as 'postgres' and must reach its directory.
        parent = Path("/tmp")
    directory = Path(tempfile.mkdtemp(prefix="stateful-collectors-pg-", dir=parent))
    os.chmod(directory, 0o700)
    server = PostgresServer(directory, also_listen=also_listen)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (see the module docstring)."""
    reason = postgresql_missing_reason()
    if reason:
        skip_unless_required(reason, REQUIRE_POSTGRESQL_ENV_VAR)
    with local_postgresql() as server:
        yield server


@pytest.fixture
def pg_dsn(postgresql: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test; its URL. Dropped after the test."""
    name = f"test_{secrets.token_hex(4)}"
    dsn = postgresql.fresh_database(name)
    yield dsn
    with contextlib.suppress(Exception):
        postgresql.drop_database(name)
