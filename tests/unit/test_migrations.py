"""state_version and migrate_state(): old files are migrated on load and rewritten on the next save.

Real state files in a temporary state dir. The guide's example of a migration,
examples/migration_collector.py, has its own tests:
tests/examples/test_migration_collector.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stateful_collectors import AbstractBaseCollector, StateFileError, StatefulCollectorMixin
from stateful_collectors.state import StateFile
from stateful_collectors.testing import make_config


class Versioned(StatefulCollectorMixin, AbstractBaseCollector):
    """Loads and saves only; state version 3; notes every migrate_state() call."""

    config_spec = """
        [versioned]
        state_dir :: path
    """
    state_version = 3
    state_codec = "pickle"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.migrations: list[int] = []

    def get_state_file_name(self):
        return "versioned.state"

    def migrate_state(self, state, from_version):
        self.migrations.append(from_version)
        return {"migrated_from": from_version, "old": state}


class NoMigration(Versioned):
    """State version 3, but no migrate_state() of its own."""

    migrate_state = StatefulCollectorMixin.migrate_state


class VersionedJson(Versioned):
    state_codec = "json"

    def get_state_file_name(self):
        return "versioned.json"


def make(cls, state_dir: Path):
    return cls(config_text=make_config("versioned", state_dir=state_dir))


def test_an_unversioned_file_counts_as_version_0_and_is_migrated(state_dir):
    path = state_dir / "versioned.state"
    StateFile(path).save({"last_utc": "2026-11-27T20:04:00Z"})  # written before versions existed
    before = path.read_bytes()

    with make(Versioned, state_dir) as collector:
        state = collector.load_state()
        assert collector.migrations == [0]
        assert state == {"migrated_from": 0, "old": {"last_utc": "2026-11-27T20:04:00Z"}}
        assert path.read_bytes() == before  # loading never writes

        collector.save_state(state)
    assert StateFile(path).load(default=dict) == {"state_version": 3, "state": state}

    with make(Versioned, state_dir) as collector:
        assert collector.load_state() == state
        assert collector.migrations == []  # the current version: nothing to migrate


def test_an_older_version_is_migrated_from_that_version(state_dir):
    path = state_dir / "versioned.state"
    StateFile(path).save({"state_version": 1, "state": ["v1 data"]})
    with make(Versioned, state_dir) as collector:
        assert collector.load_state() == {"migrated_from": 1, "old": ["v1 data"]}
        assert collector.migrations == [1]


def test_a_newer_version_is_refused_and_the_file_left_alone(state_dir):
    path = state_dir / "versioned.state"
    StateFile(path).save({"state_version": 4, "state": {"from": "the future"}})
    before = path.read_bytes()
    with make(Versioned, state_dir) as collector, pytest.raises(StateFileError) as caught:
        collector.load_state()
    assert str(caught.value) == (
        f"state file {path} has state version 4, newer than Versioned's 3; "
        "run the newer collector version that wrote it"
    )
    assert collector.migrations == []
    assert path.read_bytes() == before


def test_an_older_version_without_migrate_state_is_refused(state_dir):
    path = state_dir / "versioned.state"
    StateFile(path).save({"state_version": 2, "state": "old"})
    before = path.read_bytes()
    with make(NoMigration, state_dir) as collector, pytest.raises(StateFileError) as caught:
        collector.load_state()
    assert str(caught.value) == (
        f"state file {path} has state version 2 but NoMigration expects 3 and defines no "
        "migrate_state(); add one, or reset the state"
    )
    assert path.read_bytes() == before


def test_a_version_that_is_no_number_is_refused(state_dir):
    path = state_dir / "versioned.state"
    StateFile(path).save({"state_version": "2", "state": "old"})
    before = path.read_bytes()
    with make(Versioned, state_dir) as collector, pytest.raises(StateFileError) as caught:
        collector.load_state()
    assert "has an invalid state version '2' (not a whole number)" in str(caught.value)
    assert path.read_bytes() == before


def test_a_failing_migration_leaves_the_file_alone(state_dir):
    class Broken(Versioned):
        def migrate_state(self, state, from_version):
            return {"newest_time": state["no such key"]}

    path = state_dir / "versioned.state"
    StateFile(path).save({"last_utc": "2026-11-27T20:04:00Z"})
    before = path.read_bytes()
    with make(Broken, state_dir) as collector, pytest.raises(KeyError):
        collector.load_state()
    assert path.read_bytes() == before


def test_versions_work_with_the_json_codec(state_dir):
    path = state_dir / "versioned.json"
    path.write_text('{"last_utc": "2026-11-27T20:04:00Z"}\n')
    os.chmod(path, 0o600)
    with make(VersionedJson, state_dir) as collector:
        state = collector.load_state()
        assert collector.migrations == [0]
        collector.save_state(state)
    assert path.read_text() == (
        "{\n"
        '  "state": {\n'
        '    "migrated_from": 0,\n'
        '    "old": {\n'
        '      "last_utc": "2026-11-27T20:04:00Z"\n'
        "    }\n"
        "  },\n"
        '  "state_version": 3\n'
        "}\n"
    )
