"""The PostgreSQL state store against a real server: fencing, checks, refusals, selection.

Each test gets a fresh database (`pg_dsn`). Two collector objects with two
connections stand for two hosts. Where a test needs a session that lost its
advisory lock while it lives on, it calls `pg_advisory_unlock_all()` on that
session's own connection: that is what a pooler in transaction mode does to a
session between two transactions (a fault a test cannot otherwise produce),
and the save's version check is then the only thing between the run and a
newer state.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import time

import pytest

from stateful_collectors import StatefulCollectorMixin
from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.errors import (
    AlreadyRunningError,
    CollectorError,
    ConfigError,
    ExitStatus,
    LockLostError,
    StateFileError,
    StateSaveError,
)
from stateful_collectors.state.stores.postgresql import PostgresStore, schema_sql
from tests.support import ROOT, clean_env

pytestmark = pytest.mark.postgresql


class Shared(StatefulCollectorMixin, AbstractBaseCollector):
    """The smallest stateful collector, with a JSON state."""

    state_codec = "json"
    config_spec = """
        [shared]
        state_dir :: path
    """


class PickledShared(Shared):
    state_codec = "pickle"


KEY = f"{__name__}.Shared.json"


def config(dsn: str, host: str = "host-a", **options: str) -> str:
    extra = "".join(f"{name} = {value}\n" for name, value in options.items())
    return (
        f"[shared]\nstate_dir = /nonexistent\n[postgresql]\ndsn = {dsn}\nidentity = {host}\n{extra}"
    )


def row(postgresql, dsn: str, key: str = KEY):
    rows = postgresql.execute(
        dsn,
        "SELECT version, codec, data, checksum, saved_by FROM collector_state WHERE key = %s",
        [key],
    )
    return rows[0] if rows else None


def test_the_state_round_trips_and_every_save_bumps_the_version(postgresql, pg_dsn):
    with Shared(config_text=config(pg_dsn)) as collector:
        assert collector.load_state() is None  # no row yet: the default state
        collector.save_state({"last_id": 1})
        collector.save_state({"last_id": 2})
        assert collector.state_location.endswith(f", table collector_state, key {KEY}")
    version, codec, data, checksum, saved_by = row(postgresql, pg_dsn)
    assert (version, codec, json.loads(bytes(data))) == (2, "json", {"last_id": 2})
    assert bytes(checksum) == hashlib.sha256(bytes(data)).digest()
    assert saved_by == f"pid {os.getpid()} on host-a"
    with Shared(config_text=config(pg_dsn, "host-b")) as other:
        assert other.load_state() == {"last_id": 2}


def test_a_second_holder_anywhere_is_refused_and_names_the_first(postgresql, pg_dsn):
    with Shared(config_text=config(pg_dsn, "host-a")) as first:
        first.load_state()
        with Shared(config_text=config(pg_dsn, "host-b")) as second:
            with pytest.raises(AlreadyRunningError) as refused:
                second.load_state()
    assert str(refused.value).startswith(
        f"Shared is already running (pid {os.getpid()} on host-a holds the lock of state row {KEY}"
    )
    assert refused.value.exit_status == ExitStatus.ALREADY_RUNNING


def test_a_run_whose_lock_was_lost_cannot_overwrite_a_newer_state(postgresql, pg_dsn):
    """The fencing: the version this run loaded is no longer the row's, so its save is refused."""
    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    stale = Shared(config_text=config(pg_dsn, "host-a"))
    assert stale.load_state() == {"last_id": 1}
    stale.state_store._connection.execute("SELECT pg_advisory_unlock_all()")  # see the docstring
    with Shared(config_text=config(pg_dsn, "host-b")) as newer:
        assert newer.load_state() == {"last_id": 1}
        newer.save_state({"last_id": 7})
    before = row(postgresql, pg_dsn)
    with pytest.raises(LockLostError) as refused:
        stale.save_state({"last_id": 2})
    stale.close()
    assert row(postgresql, pg_dsn) == before  # version 2, {"last_id": 7}, by host-b
    assert before[0] == 2 and json.loads(bytes(before[2])) == {"last_id": 7}
    assert "the row is no longer at version 1, the one this run loaded" in str(refused.value)
    assert refused.value.exit_status == ExitStatus.LOCK_LOST
    assert not stale.state_saved


def test_a_save_the_server_refuses_is_a_failed_save_that_names_the_row(postgresql, pg_dsn):
    # A trigger stands in for whatever makes a server refuse an UPDATE (a full disk, a
    # constraint): the save raises StateSaveError, so the run's line says what repeats.
    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    postgresql.execute(
        pg_dsn,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
    )
    postgresql.execute(
        pg_dsn,
        "CREATE TRIGGER refuse BEFORE UPDATE ON collector_state "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    with Shared(config_text=config(pg_dsn)) as collector:
        assert collector.load_state() == {"last_id": 1}
        with pytest.raises(StateSaveError) as refused:
            collector.save_state({"last_id": 2})
    assert str(refused.value).startswith(f"state row {KEY}")
    assert "could not be saved" in str(refused.value)
    assert "the disk is full" in str(refused.value)
    assert refused.value.exit_status == ExitStatus.STATE_ERROR
    assert json.loads(bytes(row(postgresql, pg_dsn)[2])) == {"last_id": 1}


def test_a_first_save_is_refused_when_another_run_created_the_row(postgresql, pg_dsn):
    stale = Shared(config_text=config(pg_dsn))
    assert stale.load_state() is None
    stale.state_store._connection.execute("SELECT pg_advisory_unlock_all()")  # see the docstring
    with Shared(config_text=config(pg_dsn, "host-b")) as newer:
        newer.load_state()
        newer.save_state({"last_id": 5})
    with pytest.raises(LockLostError, match="another run created the row"):
        stale.save_state({"last_id": 1})
    stale.close()
    assert json.loads(bytes(row(postgresql, pg_dsn)[2])) == {"last_id": 5}


def test_a_run_whose_session_was_terminated_cannot_save(postgresql, pg_dsn):
    collector = Shared(config_text=config(pg_dsn))
    collector.load_state()
    (backend,) = postgresql.backend_pids(pg_dsn, f"stateful-collectors: pid {os.getpid()} on %")
    postgresql.terminate(backend)
    with pytest.raises(LockLostError, match="its PostgreSQL session ended"):
        collector.save_state({"last_id": 1})
    collector.close()  # a dead session closes quietly
    assert row(postgresql, pg_dsn) is None


@pytest.mark.parametrize(
    "damage, problem",
    [
        ("UPDATE collector_state SET data = '\\x7b7d0a'", "does not match its checksum"),
        (
            "UPDATE collector_state SET data = '', checksum = sha256(''::bytea)",
            "is empty",
        ),
        (
            "UPDATE collector_state SET data = '\\x7b', checksum = sha256('\\x7b'::bytea)",
            "cannot be decoded as json",
        ),
    ],
    ids=["changed bytes", "empty", "not json"],
)
def test_a_damaged_row_is_refused_and_left_untouched(postgresql, pg_dsn, damage, problem):
    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    postgresql.execute(pg_dsn, damage)
    before = row(postgresql, pg_dsn)
    with Shared(config_text=config(pg_dsn)) as collector:
        with pytest.raises(StateFileError) as refused:
            collector.load_state()
    assert row(postgresql, pg_dsn) == before
    assert f"state row {KEY} of table collector_state" in str(refused.value)
    assert problem in str(refused.value)
    assert "it was left untouched" in str(refused.value)
    assert refused.value.exit_status == ExitStatus.STATE_ERROR


class _Planted:
    """A pickle that, when loaded, creates a file (as a planted one could run anything)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_planted_pickle_is_never_loaded(postgresql, pg_dsn, tmp_path):
    evidence = tmp_path / "the pickle ran"
    planted = pickle.dumps(_Planted(str(evidence)))
    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    for key in (KEY, f"{__name__}.PickledShared.pickle"):
        postgresql.execute(
            pg_dsn,
            "INSERT INTO collector_state (key, version, codec, data, checksum, saved_by) "
            "VALUES (%s, 1, 'pickle', %s, sha256(%s), 'mallory') ON CONFLICT (key) DO UPDATE "
            "SET codec = 'pickle', data = excluded.data, checksum = excluded.checksum",
            [key, planted, planted],
        )
    with Shared(config_text=config(pg_dsn)) as collector:
        with pytest.raises(StateFileError) as refused:
            collector.load_state()
    assert "holds a pickle, which is refused: loading a pickle runs code" in str(refused.value)
    # a pickle collector is refused before it connects, unless the config allows pickle
    with pytest.raises(ConfigError, match="allow_pickle is false, and PickledShared keeps"):
        PickledShared(config_text=config(pg_dsn))
    assert not evidence.exists()
    with PickledShared(config_text=config(pg_dsn, allow_pickle="true")) as trusting:
        trusting.load_state()  # allowed: it runs what the table holds
    assert evidence.exists()


def test_a_row_saved_with_another_codec_is_refused(postgresql, pg_dsn):
    with PickledShared(config_text=config(pg_dsn, allow_pickle="true")) as collector:
        collector.save_state({"last_id": 1})
    postgresql.execute(pg_dsn, "UPDATE collector_state SET key = %s", [KEY])
    with Shared(config_text=config(pg_dsn, allow_pickle="true")) as collector:
        with pytest.raises(
            StateFileError, match="saved with the pickle codec but Shared uses json"
        ):
            collector.load_state()


def test_a_read_only_server_is_refused_before_anything_is_fetched(postgresql, pg_dsn):
    dbname = pg_dsn.rsplit("/", 1)[1]
    with Shared(config_text=config(pg_dsn)) as collector:
        collector.prepare_state()  # creates the tables
    postgresql.execute(pg_dsn, f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')
    with Shared(config_text=config(pg_dsn)) as collector:
        with pytest.raises(
            StateFileError, match="is read-only .* point \\[postgresql\\] at the primary"
        ):
            collector.prepare_state()


def test_a_role_that_may_not_create_the_table_is_told_who_can(postgresql, pg_dsn):
    dbname = pg_dsn.rsplit("/", 1)[1]
    role = f"collector_{dbname}"
    postgresql.execute(pg_dsn, f"CREATE ROLE {role} LOGIN")
    try:
        collector_dsn = postgresql.dsn(dbname, user=role)
        with Shared(config_text=config(collector_dsn)) as collector:
            with pytest.raises(StateFileError) as refused:
                collector.prepare_state()
        assert "table collector_state does not exist and this role may not create it" in str(
            refused.value
        )
        # The owner creates the tables and grants what the guide says; then it works.
        postgresql.execute(pg_dsn, schema_sql())
        postgresql.execute(
            pg_dsn,
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON collector_state, collector_state_backups "
            f"TO {role}",
        )
        with Shared(config_text=config(collector_dsn)) as collector:
            collector.prepare_state()
            collector.save_state({"last_id": 3})
            assert collector.state_store.backup() == "backup-1"
        assert row(postgresql, pg_dsn)[0] == 1
    finally:
        postgresql.execute(pg_dsn, f"DROP OWNED BY {role}")
        postgresql.execute(pg_dsn, f"DROP ROLE {role}")


def test_no_server_gives_one_line_and_exit_status_1(postgresql):
    from tests.support.processes import free_port

    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with Shared(config_text=config(dsn, connect_timeout="2")) as collector:
        with pytest.raises(CollectorError) as failed:
            collector.prepare_state()
    message = str(failed.value)
    assert failed.value.exit_status == ExitStatus.FAILURE
    assert message.startswith(f"postgresql {dsn}: cannot connect (")
    assert "\n" not in message


def test_config_mistakes_are_one_line(postgresql):
    for options, expected in [
        ({"table": "Collector-State"}, "table 'Collector-State' is not a plain table name"),
        ({"keepalives_count": "0"}, "option 'keepalives_count' must be 1 or more"),
        ({"statement_timeout": "0"}, "option 'statement_timeout' must be more than 0"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            Shared(config_text=config("postgresql://x@127.0.0.1/db", **options))
    with pytest.raises(ConfigError, match="identity 'host a' is not a name"):
        Shared(config_text=config("postgresql://x@127.0.0.1/db", host="host a"))
    with pytest.raises(ConfigError, match="dsn is not a libpq connection string"):
        Shared(config_text="[shared]\nstate_dir = /x\n[postgresql]\ndsn = host=a b=\n")


def test_the_variable_selects_postgresql_and_overrides_the_section(postgresql, pg_dsn, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(f"[shared]\nstate_dir = {tmp_path}/state\n")
    script = (
        "import sys; sys.path.insert(0, '.')\n"
        "from tests.integration.test_postgresql_store import Shared\n"
        f"with Shared(config_file={str(conf)!r}) as c:\n"
        "    c.save_state({'via': 'variable'}); print(c.state_location)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean_env(STATEFUL_COLLECTORS_POSTGRESQL_DSN=pg_dsn),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{pg_dsn}, table collector_state")
    assert not (tmp_path / "state").exists()  # the file store was not used


def test_without_psycopg_the_section_asks_for_the_extra(tmp_path):
    # psycopg is installed here; hiding it from the import system is the one way to see
    # what a machine without the extra shows.
    conf = tmp_path / "c.conf"
    conf.write_text(
        f"[json_counter]\nstate_dir = {tmp_path}\n[postgresql]\ndsn = postgresql://x@h/db\n"
        f"[outbox]\npath = {tmp_path}/out.jsonl\n"
    )
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from stateful_collectors.command.cli import main\n"
        "sys.exit(main(['run', 'tests.support.collectors.cli:JsonCounter', '--config', "
        f"{str(conf)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitStatus.CONFIG_ERROR, done.stderr
    assert done.stderr == (
        "JsonCounter: the [postgresql] section keeps the state in PostgreSQL, which needs "
        "psycopg; install it with: pip install 'stateful-collectors[postgresql]'\n"
    )


def test_the_store_can_be_used_on_its_own(postgresql, pg_dsn):
    store = PostgresStore(pg_dsn, key="demo", codec="json", identity="host-a")
    store.acquire_lock()
    try:
        assert store.read() is None
        store.write(b'{"a": 1}\n')
        assert store.read() == b'{"a": 1}\n'
        assert store.backup() == "backup-1"
        store.write(b'{"a": 2}\n')
        assert [b.name for b in store.list_backups()] == ["backup-1"]
        assert store.read_backup("backup-1") == store.read_backup("1") == b'{"a": 1}\n'
    finally:
        store.release_lock()
    assert not store.lock_held


def _tcp_options(connection) -> dict[str, int]:
    import socket

    with socket.socket(fileno=os.dup(connection.fileno())) as sock:
        return {
            name: sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))
            for name in ("TCP_USER_TIMEOUT", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")
        }


def test_both_ends_of_the_session_give_up_on_a_silent_peer_within_the_partition_bound(
    postgresql, pg_dsn
):
    # The keepalives stop nothing while data waits to be acknowledged; tcp_user_timeout
    # does, on the client's socket and on the server's (tests/reliability/test_partitions.py
    # cuts a real network).
    options = {"keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3"}
    with Shared(config_text=config(pg_dsn, **options)) as collector:
        collector.load_state()
        store = collector.state_store
        connection = store._connection
        assert store.partition_bound == 11
        server = connection.execute(
            "SELECT current_setting('tcp_user_timeout'), current_setting('tcp_keepalives_idle'), "
            "current_setting('tcp_keepalives_interval'), current_setting('tcp_keepalives_count')"
        ).fetchone()
        client = _tcp_options(connection)
    assert server == ("11000", "5", "2", "3")  # milliseconds, seconds
    assert client == {
        "TCP_USER_TIMEOUT": 11000,
        "TCP_KEEPIDLE": 5,
        "TCP_KEEPINTVL": 2,
        "TCP_KEEPCNT": 3,
    }


def test_near_the_deadline_a_statement_waits_no_longer_than_the_time_left(postgresql, pg_dsn):
    from stateful_collectors.runtime import interrupts
    from stateful_collectors.state.stores.postgresql import GIVE_UP_BEFORE_DEADLINE, LEAST_WAIT

    collector = Shared(config_text=config(pg_dsn))  # a partition bound of 60 s
    try:
        interrupts.start_deadline(20)  # no timer: not installed; the time left is what counts
        collector.load_state()
        connection = collector.state_store._connection
        limit = _tcp_options(connection)["TCP_USER_TIMEOUT"] / 1000
        assert 20 - GIVE_UP_BEFORE_DEADLINE - 1 < limit <= 20 - GIVE_UP_BEFORE_DEADLINE
        assert _tcp_options(connection)["TCP_KEEPIDLE"] == 1  # a lost answer is noticed in time
        interrupts.start_deadline(0.5)  # a statement in the last moments still gets LEAST_WAIT
        collector.save_state({"last_id": 1})
        assert _tcp_options(connection)["TCP_USER_TIMEOUT"] == LEAST_WAIT * 1000
        interrupts.cancel_deadline()
        collector.save_state({"last_id": 2})  # no deadline: the partition bound again
        assert _tcp_options(connection) == {
            "TCP_USER_TIMEOUT": 60000,
            "TCP_KEEPIDLE": 30,
            "TCP_KEEPINTVL": 10,
            "TCP_KEEPCNT": 3,
        }
    finally:
        interrupts.cancel_deadline()
        collector.close()
    assert json.loads(bytes(row(postgresql, pg_dsn)[2])) == {"last_id": 2}


def test_a_server_that_cannot_bound_unacknowledged_data_keeps_its_keepalives(postgresql, pg_dsn):
    # A server on a system without TCP_USER_TIMEOUT (or before PostgreSQL 12) refuses the
    # setting; a value out of range is refused the same way, by this server.
    store = PostgresStore(pg_dsn, key="demo", codec="json", identity="host-a")
    store._session_settings["tcp_user_timeout"] = "-1"
    store.acquire_lock()
    try:
        settings = store._connection.execute(
            "SELECT current_setting('tcp_user_timeout'), current_setting('tcp_keepalives_idle')"
        ).fetchone()
        store.write(b'{"a": 1}\n')
    finally:
        store.release_lock()
    assert settings == ("0", "30")


def test_a_session_lost_while_its_commit_runs_leaves_the_outcome_unknown(postgresql, pg_dsn):
    import threading

    from stateful_collectors.errors import SaveOutcomeUnknownError

    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    postgresql.execute(
        pg_dsn,
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$",
    )
    postgresql.execute(
        pg_dsn,
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON collector_state "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
    )
    collector = Shared(config_text=config(pg_dsn))
    assert collector.load_state() == {"last_id": 1}

    def end_the_session_during_the_commit() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = postgresql.execute(
                pg_dsn,
                "SELECT pid FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'",
            )
            if rows:
                postgresql.terminate(rows[0][0])
                return
            time.sleep(0.01)

    ender = threading.Thread(target=end_the_session_during_the_commit)
    ender.start()
    with pytest.raises(SaveOutcomeUnknownError) as unknown:
        collector.save_state({"last_id": 2})
    ender.join()
    collector.close()
    assert "so whether the save landed is unknown" in str(unknown.value)
    assert unknown.value.exit_status == ExitStatus.LOCK_LOST
    assert not collector.state_saved
    assert collector.save_outcome_unknown
    assert collector.state_location is None  # the run's line claims neither saved nor not


def test_near_the_deadline_a_slow_server_does_not_keep_the_save_past_it(postgresql, pg_dsn):
    from stateful_collectors.runtime import interrupts
    from stateful_collectors.state.stores.postgresql import GIVE_UP_BEFORE_DEADLINE

    with Shared(config_text=config(pg_dsn)) as collector:
        collector.save_state({"last_id": 1})
    postgresql.execute(
        pg_dsn,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$",
    )
    postgresql.execute(
        pg_dsn,
        "CREATE TRIGGER slow BEFORE UPDATE ON collector_state FOR EACH ROW EXECUTE FUNCTION slow()",
    )
    collector = Shared(config_text=config(pg_dsn))  # statement_timeout: 30 s
    try:
        assert collector.load_state() == {"last_id": 1}
        interrupts.start_deadline(4)  # no timer: not installed; the time left is what counts
        started = time.monotonic()
        with pytest.raises(StateSaveError, match="canceling statement due to statement timeout"):
            collector.save_state({"last_id": 2})
        took = time.monotonic() - started
    finally:
        interrupts.cancel_deadline()
        collector.close()
    assert took < 4 - GIVE_UP_BEFORE_DEADLINE + 0.5
    assert json.loads(bytes(row(postgresql, pg_dsn)[2])) == {"last_id": 1}
