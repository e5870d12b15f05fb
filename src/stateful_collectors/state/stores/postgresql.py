"""The shared state store: a row of a PostgreSQL table, an advisory lock, fenced saves.

A collector that runs on several hosts (so that losing one loses no
collection) needs a state that outlives any of them, and one run at a time
across all of them. `PostgresStore` keeps the state's bytes in one row of a
table, keyed by the name the file store would give the file
(`get_state_file_name()`), and holds the run's exclusion as a PostgreSQL
session advisory lock:

* **One run anywhere.** The run opens one connection and, before it reads the
  state, takes `pg_try_advisory_lock(k)`, `k` a 64-bit number derived from
  the table and the key. It holds it until the run ends; a second run, on any
  host, gets `AlreadyRunningError` (exit status 5) naming the host and pid of
  the holder, which every run writes into its session's `application_name`.
  The server drops the lock with the session: when the holder exits or is
  killed, at once; when its host vanishes, after the partition bound.
* **Fenced saves.** A save is one statement on that same session: an
  `UPDATE ... WHERE key = ... AND version = <the version this run loaded>`
  that bumps `version`, or, when there was no row, an `INSERT` that a unique
  key stops if another run created it meanwhile; in a transaction whose
  `COMMIT` (with `synchronous_commit = on`) is sent once the statement's
  answer came, and answered before `save_state()` returns. A run whose
  session died, or whose row moved on, has its save refused with
  `LockLostError` (exit status 6): it cannot overwrite a newer state. A
  session lost once the `COMMIT` left gives `SaveOutcomeUnknownError` (a
  `LockLostError`): the save may or may not have landed.
* **Bounded on a silent network.** The keepalives' sum,
  `idle + interval * count` seconds (the *partition bound*), is also each
  end's `tcp_user_timeout`: the server gives up on a vanished host's session,
  and frees its lock, that long after its last packet, whatever it was doing;
  a run gives up on a silent server as soon. Near the run's deadline a
  statement waits no longer than up to `GIVE_UP_BEFORE_DEADLINE` seconds
  before it (`LEAST_WAIT` at least), and a save's statement may take no
  longer on the server either.
* **Checked bytes.** Each row keeps its codec and a SHA-256 of its bytes; a
  row whose bytes do not match, or that holds a pickle while
  `allow_pickle` is off, is refused on load and left as it is.
* **Backups.** `state set`, `reset`, `restore` and `copy` keep the row they
  replace in `<table>_backups`; `state backups` lists them.

The tables are created on first use when the role may create them
(`schema_sql()` shows the statements). Configuration (`[postgresql]`):

```ini
[postgresql]
dsn = postgresql://collector@db.example.org:5432/collectors
; or: host, port, dbname, user, password (dsn wins when both are given)
table = collector_state
identity =                ; how this host is named to others (default: its host name)
allow_pickle = false
connect_timeout = 10      ; seconds
statement_timeout = 30    ; seconds, each statement
lock_timeout = 10         ; seconds, waiting for a row lock
keepalives_idle = 30      ; seconds of silence before the first TCP keepalive probe
keepalives_interval = 10  ; seconds between probes
keepalives_count = 3      ; unanswered probes before the connection counts as dead
```

`$STATEFUL_COLLECTORS_POSTGRESQL_DSN` overrides the connection settings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from stateful_collectors.config import ConfigSource, ConfigSpec
from stateful_collectors.errors import (
    AlreadyRunningError,
    CollectorError,
    ConfigError,
    LockLostError,
    SaveOutcomeUnknownError,
    StateFileError,
    StateSaveError,
    UsageError,
)
from stateful_collectors.runtime import interrupts
from stateful_collectors.state.store import Backup, StoreRequest, damaged_state_error

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ModuleNotFoundError as exc:  # pragma: no cover - covered by a subprocess test
    if not (exc.name or "").startswith("psycopg"):
        raise
    raise ConfigError(
        "the [postgresql] section keeps the state in PostgreSQL, which needs psycopg; "
        "install it with: pip install 'stateful-collectors[postgresql]'"
    ) from None

__all__ = ["DEFAULT_TABLE", "POSTGRESQL_DSN_ENV_VAR", "schema_sql"]

DEFAULT_TABLE = "collector_state"

POSTGRESQL_DSN_ENV_VAR = "STATEFUL_COLLECTORS_POSTGRESQL_DSN"
"""A libpq URL here overrides `[postgresql] dsn` (and, `state.stores.STORES` says, selects
this store)."""

_SPEC = ConfigSpec.parse(
    """
    [postgresql]
    dsn = :: str
    host = :: str
    port = :: int
    dbname = :: str
    user = :: str
    password = :: str
    table = collector_state :: str
    identity = :: str
    allow_pickle = false :: bool
    connect_timeout = 10 :: int
    statement_timeout = 30 :: float
    lock_timeout = 10 :: float
    keepalives_idle = 30 :: int
    keepalives_interval = 10 :: int
    keepalives_count = 3 :: int
    """,
    owner="the [postgresql] section",
)

_TABLE_RE = re.compile(r"^(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,54}$")
_IDENTITY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_APPLICATION_PREFIX = "stateful-collectors: "
_BACKUP_RE = re.compile(r"^(?:backup-)?([1-9][0-9]{0,18})$")

GIVE_UP_BEFORE_DEADLINE = 1.5
"""Seconds before the run's deadline at which a statement the network holds up is given up."""
LEAST_WAIT = 1.0
"""Seconds a statement may wait on a silent network at least, however close the deadline."""
DEADLINE_OVERRUN = LEAST_WAIT + 1.0
"""Seconds past the run's deadline at which a statement the network holds up ends, at most:
one that started in the deadline's last moments waits `LEAST_WAIT`, and a keepalive probe
goes out once a second."""
_TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", None)  # Linux
_TCP_KEEPIDLE = getattr(socket, "TCP_KEEPIDLE", None)
_TCP_KEEPINTVL = getattr(socket, "TCP_KEEPINTVL", None)

_SCHEMA = "\n".join(
    [
        "CREATE TABLE IF NOT EXISTS {table} (",
        "    key text PRIMARY KEY,",
        "    version bigint NOT NULL CHECK (version > 0),",
        "    codec text NOT NULL,",
        "    data bytea NOT NULL,",
        "    checksum bytea NOT NULL,",
        "    saved_at timestamptz NOT NULL DEFAULT now(),",
        "    saved_by text NOT NULL",
        ");",
        "CREATE TABLE IF NOT EXISTS {table}_backups (",
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
        "    key text NOT NULL,",
        "    version bigint NOT NULL,",
        "    codec text NOT NULL,",
        "    data bytea NOT NULL,",
        "    checksum bytea NOT NULL,",
        "    saved_at timestamptz NOT NULL,",
        "    saved_by text NOT NULL,",
        "    kept_at timestamptz NOT NULL DEFAULT now(),",
        "    kept_by text NOT NULL",
        ");",
        "CREATE INDEX IF NOT EXISTS {name}_backups_key",
        "    ON {table}_backups (key, id);",
        "",
    ]
)


def schema_sql(table: str = DEFAULT_TABLE) -> str:
    """The statements that create the state table and its backups table.

    ```python
    from stateful_collectors.state.stores.postgresql import schema_sql

    print(schema_sql().splitlines()[0])
    #> CREATE TABLE IF NOT EXISTS collector_state (
    ```
    """
    _check_table_name(table)
    return _SCHEMA.format(table=table, name=table.rpartition(".")[2])


def lock_key(table: str, key: str) -> int:
    """The advisory lock number of one state row: 64 bits of BLAKE2b over table and key.

    ```python
    from stateful_collectors.state.stores.postgresql import lock_key

    key = lock_key("collector_state", "demo.Demo.json")
    print(key == lock_key("collector_state", "demo.Demo.json"), -(2**63) <= key < 2**63)
    #> True True
    print(key == lock_key("other_table", "demo.Demo.json"))
    #> False
    ```
    """
    digest = hashlib.blake2b(
        f"{table}\0{key}".encode(), digest_size=8, person=b"sc-state-lock"
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _check_table_name(table: str) -> None:
    if not _TABLE_RE.match(table):
        raise ConfigError(
            f"[postgresql] table {table!r} is not a plain table name; use lower-case letters, "
            "digits and _ (at most 55), optionally after 'schema.'"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


class PostgresStore:
    """A `StateStore` in one row of a PostgreSQL table, shared by the hosts that run a collector.

    Args:
        conninfo: a libpq connection string or URL (`postgresql://user@host:5432/db`).
        key: the row's key, the name the file store gives the state file.
        table: the table (`schema.table` allowed); `<table>_backups` keeps the backups.
        codec: the name of the collector's codec, stored with each save.
        owner: who holds the lock, for the "already running" message.
        reset_hint: the command to suggest when the row is damaged.
        target: `MODULE:CLASS`, for the `state restore` command in messages.
        identity: how this host is named to the others (default: its host name).
        allow_pickle: accept the pickle codec (see the guide: who may write the table).
        statement_timeout: seconds any statement may take (set on the session).
        lock_timeout: seconds a statement may wait for a row lock (likewise).
        keepalives: idle, interval and count of the TCP keepalive probes, on both ends;
            their sum (`idle + interval * count`) is also the most either end waits for
            an acknowledgement (`tcp_user_timeout`): the partition bound.
        connect_timeout: seconds to wait for the connection.
    """

    kind = "state row"

    def __init__(
        self,
        conninfo: str,
        *,
        key: str,
        table: str = DEFAULT_TABLE,
        codec: str = "json",
        owner: str = "this collector",
        reset_hint: str | None = None,
        target: str = "MODULE:CLASS",
        identity: str | None = None,
        allow_pickle: bool = False,
        statement_timeout: float = 30.0,
        lock_timeout: float = 10.0,
        keepalives: tuple[int, int, int] = (30, 10, 3),
        connect_timeout: int = 10,
    ) -> None:
        _check_table_name(table)
        identity = identity or socket.gethostname()[:40] or "unknown-host"
        if not _IDENTITY_RE.match(identity):
            raise ConfigError(
                f"[postgresql] identity {identity!r} is not a name; use up to 40 letters, "
                "digits and . _ : -"
            )
        self.table, self.key, self.codec, self.owner = table, key, codec, owner
        self.identity, self.allow_pickle, self.target = identity, allow_pickle, target
        if codec == "pickle" and not allow_pickle:
            raise ConfigError(
                f"[postgresql] allow_pickle is false, and {owner} keeps its state as a pickle: "
                f"loading a pickle runs code named in it, so anyone who can write table {table} "
                "could make the collector run theirs; set state_codec = 'json' on the class, or "
                "allow_pickle = true if only the collectors' role can write the table"
            )
        self._conninfo = conninfo
        self._reset_hint = reset_hint
        self._keepalives = keepalives
        self.partition_bound = keepalives[0] + keepalives[1] * keepalives[2]
        """Seconds after which either end gives up on a silent peer (and the server frees
        the lock): the keepalive budget, also each end's `tcp_user_timeout`."""
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._session_settings = {
            "synchronous_commit": "on",
            "statement_timeout": f"{max(1, round(statement_timeout * 1000))}ms",
            "lock_timeout": f"{max(1, round(lock_timeout * 1000))}ms",
            "idle_in_transaction_session_timeout": f"{max(1, round(statement_timeout * 1000))}ms",
            "tcp_keepalives_idle": str(keepalives[0]),
            "tcp_keepalives_interval": str(keepalives[1]),
            "tcp_keepalives_count": str(keepalives[2]),
            "tcp_user_timeout": str(self.partition_bound * 1000),  # milliseconds
        }
        self.url = _display_url(conninfo)
        self.location = f"{self.url}, table {table}, key {key}"
        self.description = f"state row {key} of table {table} at {self.url}"
        self.backups_table = f"{table}_backups"
        self._lock_key = lock_key(table, key)
        self._pid_phrase = f"pid {os.getpid()} on {identity}"
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = None
        self._socket: socket.socket | None = None  # the connection's, to bound its waits
        self._socket_limit: float | None = None  # the bound it has now (seconds)
        self._encoded: dict[str, bytes] = {}
        self._cursor: psycopg.Cursor[tuple[Any, ...]] | None = None
        self._held = False
        self._version: int | None = None
        """The row's version when this run last read it (`None`: there was no row)."""

    @classmethod
    def from_config(
        cls, source: ConfigSource, request: StoreRequest, env: Mapping[str, str]
    ) -> PostgresStore:
        """The store `[postgresql]` (or `$STATEFUL_COLLECTORS_POSTGRESQL_DSN`) describes."""
        options = source.section(_SPEC, "postgresql")
        where = f"{options.origin}: [postgresql]"
        for name in (
            "connect_timeout",
            "keepalives_idle",
            "keepalives_interval",
            "keepalives_count",
        ):
            if options[name] < 1:
                raise ConfigError(
                    f"{where} option {name!r} must be 1 or more; it is {options[name]}"
                )
        for name in ("statement_timeout", "lock_timeout"):
            if not options[name] > 0:
                raise ConfigError(f"{where} option {name!r} must be more than 0 (seconds)")
        fields = {
            name: options[name]
            for name in ("host", "port", "dbname", "user", "password")
            if options[name] not in (None, "")
        }
        base = env.get(POSTGRESQL_DSN_ENV_VAR) or options["dsn"] or ""
        if base:
            fields = {}  # a URL, from the variable or the section, says it all
        identity = options["identity"] or None
        try:
            conninfo = make_conninfo(base, **fields)
        except psycopg.ProgrammingError as exc:
            shown = "$" + POSTGRESQL_DSN_ENV_VAR if env.get(POSTGRESQL_DSN_ENV_VAR) else "dsn"
            raise ConfigError(
                f"{where} {shown} is not a libpq connection string ({_first_line(exc)}); "
                "write e.g. postgresql://collector@db.example.org:5432/collectors"
            ) from None
        try:
            return cls(
                conninfo,
                key=request.key,
                table=options["table"],
                codec=request.codec,
                owner=request.owner,
                reset_hint=request.reset_hint,
                target=request.target,
                identity=identity,
                allow_pickle=options["allow_pickle"],
                statement_timeout=options["statement_timeout"],
                lock_timeout=options["lock_timeout"],
                keepalives=(
                    options["keepalives_idle"],
                    options["keepalives_interval"],
                    options["keepalives_count"],
                ),
                connect_timeout=options["connect_timeout"],
            )
        except ConfigError as exc:
            raise ConfigError(f"{options.origin}: {exc}") from None

    # -- the session

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        application_name = (_APPLICATION_PREFIX + self._pid_phrase)[:63]
        connect_timeout = self._connect_timeout
        left = interrupts.remaining()
        if left is not None:  # libpq waits 2 s at least
            connect_timeout = max(2, min(connect_timeout, int(left - GIVE_UP_BEFORE_DEADLINE)))
        idle, interval, count = self._keepalives
        try:
            connection = psycopg.connect(
                self._conninfo,
                autocommit=True,
                application_name=application_name,
                connect_timeout=connect_timeout,
                keepalives=1,
                keepalives_idle=idle,
                keepalives_interval=interval,
                keepalives_count=count,
                tcp_user_timeout=self.partition_bound * 1000,
            )
        except psycopg.Error as exc:
            raise CollectorError(
                f"postgresql {self.url}: cannot connect ({_first_line(exc)}); check [postgresql] "
                "and that the server is running and reachable"
            ) from None
        self._socket, self._socket_limit = _tcp_socket(connection), None
        try:
            self._limit_waits(self._wait_limit()[0])
            self._configure_session(connection)
            self._ensure_tables(connection)
        except psycopg.Error as exc:
            error = self._session_error(connection, exc)
            self._forget_socket()
            connection.close()
            raise error from None
        except BaseException:
            self._forget_socket()
            connection.close()
            raise
        self._connection = connection
        return connection

    def _configure_session(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Set the session's timeouts and TCP settings (any role may), in one statement.

        A server that cannot bound unacknowledged data (`tcp_user_timeout`
        needs PostgreSQL 12 and a system that has it; not Windows) is left
        with its keepalives alone.
        """
        settings = list(self._session_settings.items())
        for attempt in (settings, [pair for pair in settings if pair[0] != "tcp_user_timeout"]):
            try:
                connection.execute(
                    "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in attempt),
                    [value for pair in attempt for value in pair],
                )
                return
            except (psycopg.errors.InvalidParameterValue, psycopg.errors.UndefinedObject):
                if attempt is not settings:
                    raise

    # -- bounds on a silent network

    def _wait_limit(self) -> tuple[float, bool]:
        """How long the next statement may wait on a silent network, and whether the
        deadline is so close that the statement runs with signals deferred.

        The partition bound; closer to the run's deadline, up to
        `GIVE_UP_BEFORE_DEADLINE` seconds before it, but `LEAST_WAIT` at least.
        """
        limit = float(self.partition_bound)
        left = interrupts.remaining()
        if left is None or left - GIVE_UP_BEFORE_DEADLINE >= limit:
            return limit, False
        if left - GIVE_UP_BEFORE_DEADLINE >= LEAST_WAIT:
            return left - GIVE_UP_BEFORE_DEADLINE, False
        return LEAST_WAIT, True

    def _limit_waits(self, limit: float) -> None:
        """Bound the connection's waits on a silent network to `limit` seconds.

        TCP keepalives alone do not run while data waits to be acknowledged,
        and an answer that never comes would be waited for as long as the
        kernel retransmits (about 15 minutes): `TCP_USER_TIMEOUT` bounds both.
        Below the partition bound, the keepalive probes start after 1 s of
        silence, 1 s apart, so that a lost answer is noticed in time too.
        """
        if self._socket is None or limit == self._socket_limit:
            return
        idle, interval, _ = self._keepalives
        if limit < self.partition_bound:
            idle = interval = 1
        try:
            if _TCP_USER_TIMEOUT is not None:
                self._socket.setsockopt(
                    socket.IPPROTO_TCP, _TCP_USER_TIMEOUT, max(1, round(limit * 1000))
                )
            if _TCP_KEEPIDLE is not None and _TCP_KEEPINTVL is not None:
                self._socket.setsockopt(socket.IPPROTO_TCP, _TCP_KEEPIDLE, idle)
                self._socket.setsockopt(socket.IPPROTO_TCP, _TCP_KEEPINTVL, interval)
        except OSError:
            return  # the connection is going; its next statement says so
        self._socket_limit = limit

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[float]:
        """One statement (or a save), its waits bounded; near the deadline, not cut by a signal.

        Gives the bound, in seconds. A signal that arrives in the last moments
        before the deadline takes effect when the statement is over, at most
        `LEAST_WAIT` (and a keepalive probe) later.
        """
        limit, cornered = self._wait_limit()
        self._limit_waits(limit)
        if cornered:
            with interrupts.deferred():
                yield limit
        else:
            yield limit

    def _forget_socket(self) -> None:
        sock, self._socket, self._socket_limit = self._socket, None, None
        if sock is not None:
            sock.close()  # a duplicate: the connection's own descriptor stays open

    def _ensure_tables(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        row = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
            [self.table, self.backups_table],
        ).fetchone()
        if row and row[0]:
            return
        try:
            with connection.transaction():
                # Two runs creating the tables at once would collide in the catalogs.
                connection.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(self.table, "")])
                connection.execute(schema_sql(self.table).encode())
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StateFileError(
                f"postgresql {self.url}: table {self.table} does not exist and this role may not "
                f"create it ({_first_line(exc)}); have its owner create it (see 'Running on "
                "several hosts' in the guide for the SQL and the GRANTs)"
            ) from None
        except psycopg.Error as exc:
            raise StateFileError(
                f"postgresql {self.url}: cannot create table {self.table} ({_first_line(exc)})"
            ) from None

    def _query(self, sql: str, params: list[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
        """Run one statement on the run's session; a lost session is a lost lock.

        Results come in binary (a `bytea` is not sent as hex text), through one
        cursor; the text of each statement is encoded once (saves and loads are
        timed by benchmarks/, against one hand-written statement).
        """
        connection = self._connect()
        query = self._encode(sql)
        cursor = self._cursor_of(connection)
        try:
            with self._bounded():
                return cursor.execute(query, params)
        except psycopg.Error as exc:
            raise self._session_error(connection, exc) from None

    def _cursor_of(
        self, connection: psycopg.Connection[tuple[Any, ...]]
    ) -> psycopg.Cursor[tuple[Any, ...]]:
        if self._cursor is None or self._cursor.connection is not connection:
            self._cursor = connection.cursor(binary=True)
        return self._cursor

    def _encode(self, sql: str) -> bytes:
        query = self._encoded.get(sql)
        if query is None:
            query = self._encoded[sql] = sql.encode()
        return query

    def _session_error(
        self,
        connection: psycopg.Connection[tuple[Any, ...]],
        exc: psycopg.Error,
        *,
        saving: bool = False,
    ) -> CollectorError:
        if connection.broken or connection.closed:
            self._connection = None
            self._forget_socket()
            if self._held:
                return self._lock_lost(
                    f"its PostgreSQL session ended: {_first_line(exc)}", saving=saving
                )
            return CollectorError(
                f"postgresql {self.url}: the connection was lost ({_first_line(exc)})"
            )
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return StateFileError(
                f"{self.description} cannot be used ({_first_line(exc)}); grant the collectors' "
                f"role SELECT, INSERT, UPDATE and DELETE on {self.table} and {self.backups_table}"
            )
        return CollectorError(f"{self.description}: {_first_line(exc)}")

    def _lock_lost(self, why: str, *, saving: bool = True) -> LockLostError:
        self._held = False
        if not saving:
            return LockLostError(
                f"{self.owner} lost its lock on {self.description} ({why}) and stopped before "
                "saving; the next run starts from the last state saved"
            )
        return LockLostError(
            f"{self.owner} lost its lock on {self.description} ({why}), so its save was "
            "refused; its messages were confirmed, so nothing is lost: the next run "
            "re-publishes what came after the last save"
        )

    def _outcome_unknown(self, exc: psycopg.Error) -> SaveOutcomeUnknownError:
        self._held = False
        self._connection = None
        self._forget_socket()
        return SaveOutcomeUnknownError(
            f"{self.owner} lost its PostgreSQL session while committing its save to "
            f"{self.description} ({_first_line(exc)}), so whether the save landed is unknown; "
            "its messages were confirmed, so nothing is lost: the next run reads the row and "
            "carries on from this save if it landed, or else re-publishes what came after the "
            "last save"
        )

    # -- the lock

    @property
    def lock_held(self) -> bool:
        return self._held

    def acquire_lock(self) -> None:
        if self._held:
            return
        row = self._query("SELECT pg_try_advisory_lock(%s)", [self._lock_key]).fetchone()
        if not (row and row[0]):
            holder = self._holder()
            self.release_lock()
            raise AlreadyRunningError(
                f"{self.owner} is already running ({holder} holds the lock of "
                f"{self.description}); this run did nothing"
            )
        self._held = True
        found = self._query(f"SELECT version FROM {self.table} WHERE key = %s", [self.key])
        version = found.fetchone()
        self._version = None if version is None else int(version[0])

    def _holder(self) -> str:
        """Who holds the lock: `pid N on HOST` from its application_name, or its session."""
        unsigned = self._lock_key & 0xFFFFFFFFFFFFFFFF
        row = self._query(
            "SELECT a.pid, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            [unsigned >> 32, unsigned & 0xFFFFFFFF],
        ).fetchone()
        if row is None:
            return "a run that has just ended"
        backend, application_name = row
        if (application_name or "").startswith(_APPLICATION_PREFIX):
            return str(application_name)[len(_APPLICATION_PREFIX) :]
        return f"PostgreSQL session {backend} ({application_name or 'no application_name'})"

    def release_lock(self) -> None:
        """Unlock and close the session (a session that is gone has released it already)."""
        connection, self._connection = self._connection, None
        held, self._held = self._held, False
        if connection is None:
            return
        try:
            if held and not connection.broken:
                # Not worth a long wait on a silent network: the server frees the lock
                # with the session anyway.
                self._limit_waits(min(float(self.partition_bound), LEAST_WAIT))
                connection.execute("SELECT pg_advisory_unlock(%s)", [self._lock_key])
        except psycopg.Error:
            pass  # the session is going away anyway; the server releases its locks
        finally:
            self._forget_socket()
            connection.close()

    def check_writable(self) -> None:
        """Refuse now, before anything is fetched, a server or a role that cannot save."""
        row = self._query(
            "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), "
            "has_table_privilege(%s, 'SELECT') AND has_table_privilege(%s, 'INSERT') "
            "AND has_table_privilege(%s, 'UPDATE')",
            [self.table] * 3,
        ).fetchone()
        assert row is not None
        in_recovery, read_only, may_write = row
        if in_recovery or read_only == "on":
            raise StateFileError(
                f"postgresql {self.url} is read-only (a standby, or read-only by default), so "
                "the state could not be saved after publishing; nothing was fetched: point "
                "[postgresql] at the primary (e.g. target_session_attrs=read-write in the dsn)"
            )
        if not may_write:
            raise StateFileError(
                f"{self.description} cannot be saved by this role (it lacks SELECT, INSERT or "
                "UPDATE), so nothing was fetched; grant them on the table to the collectors' role"
            )

    # -- the bytes

    def exists(self) -> bool:
        return (
            self._query(f"SELECT 1 FROM {self.table} WHERE key = %s", [self.key]).fetchone()
            is not None
        )

    def read(self) -> bytes | None:
        row = self._query(
            f"SELECT version, codec, data, checksum FROM {self.table} WHERE key = %s", [self.key]
        ).fetchone()
        if row is None:
            self._version = None
            return None
        version, codec, data, checksum = row
        self._version = int(version)
        return self._checked(self.description, codec, bytes(data), bytes(checksum))

    def open_read(self) -> bytes | None:
        return self.read()  # the row's bytes arrive whole: nothing to gain from a file

    def _checked(self, what: str, codec: str, data: bytes, checksum: bytes) -> bytes:
        if codec == "pickle" and not self.allow_pickle:
            raise StateFileError(
                f"{what} holds a pickle, which is refused: loading a pickle runs code named "
                f"in it, and anyone who can write table {self.table} could plant one; it was "
                "left untouched: set allow_pickle = true in [postgresql] only if no one else "
                "can write the table"
            )
        if codec != self.codec:
            raise StateFileError(
                f"{what} was saved with the {codec} codec but {self.owner} uses {self.codec}; "
                "it was left untouched: set the collector's state_codec back, or reset the state"
            )
        if hashlib.sha256(data).digest() != checksum:
            raise damaged_state_error(
                what,
                "does not match its checksum (it was changed outside stateful-collectors, "
                "or damaged)",
                self._reset_hint,
            )
        return data

    def write(self, data: bytes) -> None:
        """Save `data` if the row is still at the version this run loaded; bump the version.

        Two round trips: the fenced statement in a transaction, and its
        `COMMIT`, sent only once the statement's answer came. A lost lock
        (the session ended before the `COMMIT` was sent: nothing was saved, the
        server rolls the transaction back) raises `LockLostError`; a session
        lost after the `COMMIT` was sent, `SaveOutcomeUnknownError`; any other
        failure `StateSaveError` naming the row, so the run's line says what
        the next run repeats.
        """
        try:
            self._write(data)
        except LockLostError:
            raise
        except CollectorError as exc:
            raise StateSaveError(f"{self.description} could not be saved ({exc})") from exc

    def _write(self, data: bytes) -> None:
        checksum = hashlib.sha256(data).digest()
        if self._version is None:
            sql = (
                f"INSERT INTO {self.table} (key, version, codec, data, checksum, saved_by) "
                "VALUES (%s, 1, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING version"
            )
            params: list[Any] = [self.key, self.codec, data, checksum, self._pid_phrase]
            why = "another run created the row since this one found none"
        else:
            sql = (
                f"UPDATE {self.table} SET version = version + 1, codec = %s, data = %s, "
                "checksum = %s, saved_at = now(), saved_by = %s "
                "WHERE key = %s AND version = %s RETURNING version"
            )
            params = [self.codec, data, checksum, self._pid_phrase, self.key, self._version]
            why = f"the row is no longer at version {self._version}, the one this run loaded"
        connection = self._connect()
        cursor = self._cursor_of(connection)
        with self._bounded() as limit:
            try:
                failed: psycopg.Error | None = None
                with _one_round_trip(connection):
                    try:
                        connection.execute(b"BEGIN")
                        if interrupts.remaining() is not None and limit < self._statement_timeout:
                            # A slow server does not keep the save past the deadline either.
                            connection.execute(
                                b"SELECT set_config('statement_timeout', %s, true)",
                                [f"{max(1, round(limit * 1000))}ms"],
                            )
                        cursor.execute(self._encode(sql), params)
                    except psycopg.Error as exc:  # raised below: the pipeline's end would log it
                        failed = exc
                if failed is not None:
                    raise failed
                row = cursor.fetchone()
            except psycopg.Error as exc:
                self._roll_back(connection)
                raise self._session_error(connection, exc, saving=True) from None
            if row is None:
                self._roll_back(connection)
                raise self._lock_lost(why)
            try:
                connection.execute(b"COMMIT")
            except psycopg.Error as exc:
                if connection.broken or connection.closed:
                    raise self._outcome_unknown(exc) from None
                raise self._session_error(connection, exc, saving=True) from None
        self._version = int(row[0])

    def _roll_back(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        """End the save's transaction when it failed (nothing to do on a lost session)."""
        if connection.broken or connection.closed:
            return
        with contextlib.suppress(psycopg.Error):
            connection.execute(b"ROLLBACK")

    def remove(self) -> None:
        if self._version is None:
            return
        gone = self._query(
            f"DELETE FROM {self.table} WHERE key = %s AND version = %s RETURNING 1",
            [self.key, self._version],
        ).fetchone()
        if gone is None:
            raise self._lock_lost(f"the row is no longer at version {self._version}")
        self._version = None

    # -- the backups

    def backup(self) -> str | None:
        """Copy the row into `<table>_backups`; its name (`backup-N`), or `None` without a row."""
        row = self._query(
            f"INSERT INTO {self.backups_table} "
            "(key, version, codec, data, checksum, saved_at, saved_by, kept_by) "
            f"SELECT key, version, codec, data, checksum, saved_at, saved_by, %s FROM {self.table} "
            "WHERE key = %s RETURNING id",
            [self._pid_phrase, self.key],
        ).fetchone()
        return None if row is None else f"backup-{row[0]}"

    def discard_backup(self, backup: str) -> None:
        self._query(
            f"DELETE FROM {self.backups_table} WHERE key = %s AND id = %s",
            [self.key, self._backup_id(backup)],
        )

    def restore_command(self, backup: str) -> str:
        return f"stateful-collectors state restore {self.target} {backup}"

    def list_backups(self) -> list[Backup]:
        rows = self._query(
            f"SELECT id, kept_at, length(data), version, saved_at, saved_by "
            f"FROM {self.backups_table} WHERE key = %s ORDER BY id",
            [self.key],
        ).fetchall()
        return [
            Backup(
                f"backup-{backup_id}",
                _utc(kept_at),
                int(size),
                f"version {version}, saved {_utc(saved_at)} by {saved_by}",
            )
            for backup_id, kept_at, size, version, saved_at, saved_by in rows
        ]

    def read_backup(self, backup: str) -> bytes:
        row = self._query(
            f"SELECT codec, data, checksum FROM {self.backups_table} WHERE key = %s AND id = %s",
            [self.key, self._backup_id(backup)],
        ).fetchone()
        if row is None:
            raise self._no_such_backup(backup)
        codec, data, checksum = row
        return self._checked(f"{backup} of {self.description}", codec, bytes(data), bytes(checksum))

    def _backup_id(self, backup: str) -> int:
        found = _BACKUP_RE.match(backup)
        if not found:
            raise self._no_such_backup(backup)
        return int(found.group(1))

    def _no_such_backup(self, backup: str) -> UsageError:
        return UsageError(
            f"{backup} is not a backup of {self.description}; "
            "'stateful-collectors state backups' lists them"
        )


def _one_round_trip(
    connection: psycopg.Connection[Any],
) -> contextlib.AbstractContextManager[Any]:
    """A pipeline: the statements in the block go in one round trip (with libpq 14 or later)."""
    if psycopg.Pipeline.is_supported():
        return connection.pipeline()
    return contextlib.nullcontext()


def _tcp_socket(connection: psycopg.Connection[Any]) -> socket.socket | None:
    """A duplicate of the connection's socket, to set its options; `None` unless TCP."""
    try:
        sock = socket.socket(fileno=os.dup(connection.fileno()))
    except OSError:
        return None
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.close()
        return None
    return sock


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _display_url(conninfo: str) -> str:
    """`postgresql://user@host:port/dbname` from a connection string, without the password."""
    parts = conninfo_to_dict(conninfo)
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"
