"""The `state` commands on the PostgreSQL store, and `state copy` between it and the file store.

Every command is a real `stateful-collectors` process against the session's
real PostgreSQL; the collector is `JsonCounter` (tests/support/collectors/cli.py),
whose state `{"runs": N}` counts its runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stateful_collectors.errors import ExitStatus
from tests.support.processes import run_cli, start_cli, wait_for_file

pytestmark = pytest.mark.postgresql

TARGET = "tests.support.collectors.cli:JsonCounter"
KEY = "tests.support.collectors.cli.JsonCounter.json"


class Configs:
    """Two configs of one collector: the state file (`file`), and a PostgreSQL row (`pg`)."""

    def __init__(self, root: Path, dsn: str, mode: str = "ok") -> None:
        self.state_dir = root / "state"
        self.ready = root / "ready"
        common = (
            f"[json_counter]\nstate_dir = {self.state_dir}\nmode = {mode}\n"
            f"ready_file = {self.ready}\n[outbox]\npath = {root}/out.jsonl\n"
        )
        self.file = root / "file.conf"
        self.file.write_text(common)
        self.pg = root / "pg.conf"
        self.pg.write_text(common + f"[postgresql]\ndsn = {dsn}\nidentity = host-a\n")
        self.location = f"{dsn}, table collector_state, key {KEY}"
        self.state_file = self.state_dir / KEY


def state(action: str, config: Path, *args: str):
    return run_cli("state", action, TARGET, *args, "--config", str(config))


def runs_in(postgresql, dsn: str) -> int:
    (row,) = postgresql.execute(dsn, "SELECT data FROM collector_state WHERE key = %s", [KEY])
    return json.loads(bytes(row[0]))["runs"]


def test_path_show_set_backups_restore_and_reset_on_postgresql(postgresql, pg_dsn, tmp_path):
    configs = Configs(tmp_path, pg_dsn)
    path = state("path", configs.pg)
    assert (path.returncode, path.stdout) == (0, configs.location + "\n")

    before = state("show", configs.pg)
    assert before.returncode == 0, before.stderr
    assert before.stdout == '{"runs": 0}\n'
    assert (
        before.stderr == f"# no state row yet at {configs.location}; the first run starts from:\n"
    )

    for _ in range(2):
        assert run_cli("run", TARGET, "--config", str(configs.pg)).returncode == 0
    assert state("show", configs.pg).stdout == '{"runs": 2}\n'

    done = state("set", configs.pg, '{"runs": 10}')
    assert done.stdout == (
        f"state saved to {configs.location}; the old state is kept in backup-1 "
        f"(to undo: stateful-collectors state restore {TARGET} --config {configs.pg} backup-1)\n"
    )
    assert runs_in(postgresql, pg_dsn) == 10

    listed = state("backups", configs.pg)
    (line,) = listed.stdout.splitlines()
    assert re.fullmatch(
        r"backup-1  kept \S+Z  16 bytes  version 2, saved \S+Z by pid \d+ on host-a", line
    ), line

    restored = state("restore", configs.pg, "backup-1")
    assert restored.stdout == (
        "state restored from backup-1; the state it replaced is kept in backup-2 "
        f"(to undo: stateful-collectors state restore {TARGET} --config {configs.pg} backup-2)\n"
    )
    assert runs_in(postgresql, pg_dsn) == 2

    unknown = state("restore", configs.pg, "backup-9")
    assert unknown.returncode == ExitStatus.USAGE_ERROR
    assert unknown.stderr == (
        f"stateful-collectors state: backup-9 is not a backup of state row {KEY} of table "
        f"collector_state at {pg_dsn}; 'stateful-collectors state backups' lists them\n"
    )

    reset = state("reset", configs.pg, "--yes")
    assert reset.stdout == (
        "state reset; the old state is kept in backup-3 "
        f"(to undo: stateful-collectors state restore {TARGET} --config {configs.pg} backup-3)\n"
    )
    assert postgresql.execute(pg_dsn, "SELECT count(*) FROM collector_state")[0][0] == 0
    assert state("restore", configs.pg, "backup-3").stdout == "state restored from backup-3\n"
    assert runs_in(postgresql, pg_dsn) == 2
    assert not configs.state_dir.exists()  # the file store was never touched


def test_copy_moves_a_collector_from_the_file_to_postgresql_and_back(postgresql, pg_dsn, tmp_path):
    configs = Configs(tmp_path, pg_dsn)
    for _ in range(2):
        assert run_cli("run", TARGET, "--config", str(configs.file)).returncode == 0

    there = run_cli(
        "state", "copy", TARGET, "--from-config", str(configs.file), "--to-config", str(configs.pg)
    )
    assert there.returncode == 0, there.stderr
    assert there.stdout == f"state copied from {configs.state_file} to {configs.location}\n"
    assert runs_in(postgresql, pg_dsn) == 2

    run = run_cli("run", TARGET, "--config", str(configs.pg))  # it carries on from its place
    assert run.returncode == 0 and runs_in(postgresql, pg_dsn) == 3

    back = run_cli(
        "state", "copy", TARGET, "--from-config", str(configs.pg), "--to-config", str(configs.file)
    )
    assert back.returncode == 0, back.stderr
    (kept,) = [b.split("  ")[0] for b in state("backups", configs.file).stdout.splitlines()]
    assert back.stdout == (
        f"state copied from {configs.location} to {configs.state_file}; the state it replaced "
        f"is kept in {kept} (to undo: cp -p {kept} {configs.state_file})\n"
    )
    assert json.loads(configs.state_file.read_text()) == {"runs": 3}
    assert json.loads(Path(kept).read_text()) == {"runs": 2}

    restored = state("restore", configs.file, kept)  # a file backup is restored the same way
    assert restored.returncode == 0, restored.stderr
    assert json.loads(configs.state_file.read_text()) == {"runs": 2}

    same = run_cli(
        "state", "copy", TARGET, "--from-config", str(configs.pg), "--to-config", str(configs.pg)
    )
    assert same.returncode == ExitStatus.USAGE_ERROR
    assert same.stderr == (
        f"stateful-collectors state: --from-config and --to-config both select "
        f"{configs.location}; nothing was copied\n"
    )


def test_nothing_to_copy_changes_nothing(postgresql, pg_dsn, tmp_path):
    configs = Configs(tmp_path, pg_dsn)
    empty = run_cli(
        "state", "copy", TARGET, "--from-config", str(configs.pg), "--to-config", str(configs.file)
    )
    assert empty.returncode == ExitStatus.USAGE_ERROR
    assert empty.stderr == (
        f"stateful-collectors state: no state row at {configs.location} to copy; "
        "nothing was changed\n"
    )
    assert not configs.state_file.exists()


def test_the_commands_wait_for_no_run_on_another_host(postgresql, pg_dsn, tmp_path):
    configs = Configs(tmp_path, pg_dsn, mode="block")
    running = start_cli("run", TARGET, "--config", str(configs.pg))
    try:
        wait_for_file(configs.ready, running)
        refused = [state("backups", configs.pg), state("set", configs.pg, '{"runs": 5}')]
        # Before any state was saved, show takes no lock: it shows the default and waits for
        # nothing (as with the file store, where it creates no lock file).
        shown = state("show", configs.pg)
    finally:
        running.kill()
        running.communicate()
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == '{"runs": 0}\n'
    assert "the first run starts from" in shown.stderr
    for result in refused:
        assert result.returncode == ExitStatus.ALREADY_RUNNING
        assert result.stderr.startswith(
            f"stateful-collectors state: JsonCounter is already running (pid {running.pid} on "
            "host-a holds the lock of state row"
        ), result.stderr
    assert postgresql.execute(pg_dsn, "SELECT count(*) FROM collector_state")[0][0] == 0
