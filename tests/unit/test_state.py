"""Unit tests of `stateful_collectors.state`: round trips, codecs, modes, names, versions, lock."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import io
import json
import logging
import os
import pickle
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stateful_collectors import StatefulCollectorMixin
from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.errors import AlreadyRunningError, StateFileError
from stateful_collectors.fs import write_durably
from stateful_collectors.state import JsonCodec, StateFile
from stateful_collectors.state.codecs import CODECS
from stateful_collectors.state.lock import SingleInstanceLock


class Collector(StatefulCollectorMixin, AbstractBaseCollector):
    config_spec = """
        [unit_state]
        state_dir :: path
    """

    def make_default_state(self):
        return {"last_utc": None}


class JsonCollector(Collector):
    state_codec = "json"


class PlainCollector(StatefulCollectorMixin, AbstractBaseCollector):
    """Keeps the seed's default: `make_default_state()` returns None."""

    config_spec = "[unit_state]\nstate_dir :: path\n"


class Outer:
    class Nested(StatefulCollectorMixin, AbstractBaseCollector):
        config_spec = "[unit_state]\nstate_dir :: path\n"


class Checkpoint:
    """A custom class in the state: it must come back equal, with its own type."""

    def __init__(self, feed: str, position: int) -> None:
        self.feed = feed
        self.position = position

    def __eq__(self, other: object) -> bool:
        return type(other) is Checkpoint and (other.feed, other.position) == (
            self.feed,
            self.position,
        )

    def __hash__(self) -> int:
        return hash((self.feed, self.position))


def config_for(state_dir: Path) -> str:
    return f"[unit_state]\nstate_dir = {state_dir}\n"


def make(cls: type, state_dir: Path):
    return cls(config_text=config_for(state_dir))


def save_then_load_in_a_new_run(cls: type, state_dir: Path, state):
    """Save with one collector object, load with another: as two runs of cron would."""
    first = make(cls, state_dir)
    first.save_state(state)
    first.close()
    second = make(cls, state_dir)
    try:
        return second.load_state()
    finally:
        second.close()


# ---------------------------------------------------------------- round trips


ROUND_TRIPS = {
    "str": "2026-11-27T20:04:00Z — ünïcødé",
    "bytes": b"\x00\xff raw bytes \x80",
    "None": None,
    "date and times": {
        "day": dt.date(2026, 11, 27),
        "naive": dt.datetime(2026, 11, 27, 20, 4, 5, 123456),
        "aware": dt.datetime(2026, 11, 27, 22, 4, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "delta": dt.timedelta(minutes=90),
    },
    "nested dicts with tuple keys": {
        ("feed", "items"): {("2026-11-27", 1): {"ids": [1, 2, 3]}},
        ("feed", "csv"): {},
    },
    "sets": {"seen": {1, 2, 3}, "frozen": frozenset({"a", "b"}), "empty": set()},
    "custom classes": {
        "checkpoint": Checkpoint("demo", 42),
        "by_checkpoint": {Checkpoint("demo", 1): [Checkpoint("other", 2)]},
    },
    "other library types": [
        decimal.Decimal("0.1"),
        collections.deque([1, 2]),
        collections.OrderedDict(b=1, a=2),
        Path("/var/lib/x"),
    ],
    "empty containers": ({}, [], (), ""),
}


@pytest.mark.parametrize("state", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_any_picklable_state_round_trips(state, state_dir):
    loaded = save_then_load_in_a_new_run(Collector, state_dir, state)
    assert loaded == state
    assert type(loaded) is type(state)


def test_a_round_trip_keeps_types_deep_inside():
    state = ROUND_TRIPS["date and times"] | ROUND_TRIPS["custom classes"]
    loaded = pickle.loads(CODECS["pickle"].dumps(state))
    assert {k: type(v) for k, v in loaded.items()} == {k: type(v) for k, v in state.items()}
    assert loaded["aware"].utcoffset() == dt.timedelta(hours=2)


def test_a_state_that_cannot_be_pickled_raises_before_the_file_changes(state_dir):
    collector = make(Collector, state_dir)
    collector.save_state({"last_utc": "old"})
    before = collector.state_file_path.read_bytes()
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        collector.save_state({"callback": lambda: None})
    assert collector.state_file_path.read_bytes() == before
    assert sorted(os.listdir(state_dir)) == sorted(
        [collector.state_file_path.name, collector.state_file_path.name + ".lock"]
    )
    collector.close()


# ---------------------------------------------------------------- the JSON codec


def test_the_json_codec_writes_readable_json(state_dir):
    state = {"last_utc": "2026-11-27T20:04:00Z", "seen": [3, 1, 2], "név": "ünï"}
    assert save_then_load_in_a_new_run(JsonCollector, state_dir, state) == state
    path = state_dir / "tests.unit.test_state.JsonCollector.json"
    assert path.exists()
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == state
    assert text == json.dumps(state, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def test_the_json_codec_turns_tuples_into_lists():
    codec = JsonCodec()
    assert codec.loads(codec.dumps({"pair": (1, 2)})) == {"pair": [1, 2]}


def test_the_json_codec_refuses_what_json_cannot_hold(state_dir):
    collector = make(JsonCollector, state_dir)
    with pytest.raises(TypeError) as raised:
        collector.save_state({"seen": {1, 2}})
    assert str(raised.value) == (
        "state is not plain JSON data (Object of type set is not JSON serializable); "
        "use state_codec = 'pickle' or convert it before save_state()"
    )
    assert not collector.state_file_path.exists()
    collector.close()


def test_state_codec_may_be_an_object(tmp_path):
    class Upper:
        name, suffix = "upper", ".txt"

        def dumps(self, state):
            return state.upper().encode()

        def loads(self, data):
            return data.decode()

    state_file = StateFile(tmp_path / "s" / "x.txt", Upper())
    state_file.save("quiet")
    assert (tmp_path / "s" / "x.txt").read_bytes() == b"QUIET"
    assert state_file.load(default=str) == "QUIET"


@pytest.mark.parametrize("codec", ["pickle", "json", "object"])
def test_a_state_over_1_mib_is_loaded_from_the_open_file_with_the_same_results(
    codec, state_dir, monkeypatch
):
    # Over 1 MiB, load_state() decodes from the open file (pickle reads large values straight
    # into place); the result, and every error, must be what the bytes path gives.
    class Upper:
        name, suffix = "upper", ".txt"

        def dumps(self, state):
            return json.dumps(state).encode()

        def loads(self, data):
            return json.loads(data)

    cls = type("Big", (Collector,), {"state_codec": Upper() if codec == "object" else codec})
    big = {"last_utc": "2026-11-27T20:00:00Z", "blob": "x" * (3 << 20)}
    collector = cls(config_text=f"[unit_state]\nstate_dir = {state_dir}\n")
    collector.save_state(big)
    path = collector.state_file_path
    assert path.stat().st_size > 1 << 20
    opened = []
    real_reader = io.BufferedReader
    monkeypatch.setattr(io, "BufferedReader", lambda raw: opened.append(raw) or real_reader(raw))
    assert collector.load_state() == big
    assert opened  # it really took the file path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut short, as a damaged file would be
    with pytest.raises(StateFileError, match=r"cannot be decoded as (pickle|json|upper) \("):
        collector.load_state()
    assert path.read_bytes() == data[: len(data) // 2]  # left untouched
    collector.close()


def test_an_unknown_codec_name_is_refused():
    with pytest.raises(ValueError) as raised:
        StateFile("/tmp/never/x", "yaml")
    assert str(raised.value) == "unknown state_codec 'yaml'; use one of: pickle, json"


# ---------------------------------------------------------------- modes and files


def test_the_state_dir_is_created_0700_and_the_file_0600_whatever_the_umask(tmp_path):
    state_dir = tmp_path / "does" / "not" / "exist"
    old_umask = os.umask(0)
    try:
        collector = make(Collector, state_dir)
        collector.save_state({"last_utc": "x"})
        collector.close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(collector.state_file_path.stat().st_mode) == 0o600
    lock = collector.state_file_path.with_name(collector.state_file_path.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_save_makes_the_file_0600_even_over_a_0644_file(state_dir):
    collector = make(Collector, state_dir)
    collector.state_file_path.write_bytes(pickle.dumps({"last_utc": None}))
    os.chmod(collector.state_file_path, 0o644)
    collector.save_state({"last_utc": "y"})
    collector.close()
    assert stat.S_IMODE(collector.state_file_path.stat().st_mode) == 0o600


def test_an_existing_private_state_dir_is_used_as_it_is(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    os.chmod(state_dir, 0o755)  # readable by others is fine; writable would not be
    assert save_then_load_in_a_new_run(Collector, state_dir, {"last_utc": "z"}) == {"last_utc": "z"}
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o755


def test_write_durably_leaves_only_the_file(tmp_path):
    target = tmp_path / "out.bin"
    write_durably(target, b"first")
    write_durably(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_nothing_touches_the_disk_until_load_or_save(tmp_path):
    state_dir = tmp_path / "state"
    collector = make(Collector, state_dir)
    assert collector.state_file_path == state_dir / "tests.unit.test_state.Collector.pickle"
    assert not state_dir.exists()
    collector.close()


def test_a_config_without_state_dir_is_a_clear_error():
    class NoStateDir(StatefulCollectorMixin, AbstractBaseCollector):
        config_spec = "[c]\nurl = x :: str\n"

    with pytest.raises(TypeError) as raised:
        NoStateDir(config_text="[c]\n")
    assert str(raised.value) == (
        "test_a_config_without_state_dir_is_a_clear_error.<locals>.NoStateDir uses "
        "StatefulCollectorMixin but its config has no 'state_dir'; add 'state_dir :: path' "
        "to its config_spec"
    )


# ---------------------------------------------------------------- load_state and its default


def test_a_missing_file_gives_the_default_and_one_warning_naming_the_path(state_dir, caplog):
    caplog.set_level(logging.DEBUG)
    collector = make(Collector, state_dir)
    assert collector.load_state() == {"last_utc": None}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].getMessage() == (
        f"state file {collector.state_file_path} not found; starting from the default state"
    )
    assert not collector.state_file_path.exists()  # the default is not written by loading

    caplog.clear()
    collector.save_state({"last_utc": "a"})
    assert collector.load_state() == {"last_utc": "a"}
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    collector.close()


def test_make_default_state_returns_none_unless_overridden(state_dir):
    collector = make(PlainCollector, state_dir)
    assert collector.make_default_state() is None
    assert collector.load_state() is None
    collector.close()


def test_save_state_records_that_it_completed(state_dir):
    collector = make(Collector, state_dir)
    assert collector.state_saved is False
    collector.save_state({"last_utc": "b"})
    assert collector.state_saved is True
    collector.close()


def test_checkpoint_waits_for_confirms_before_it_saves(state_dir):
    events = []

    class Confirming(Collector):
        def wait_for_confirms(self):
            events.append(("confirmed", self.state_file_path.exists()))

    collector = make(Confirming, state_dir)
    collector.checkpoint({"last_utc": "c"})
    events.append(("saved", collector.load_state()))
    collector.close()
    assert events == [("confirmed", False), ("saved", {"last_utc": "c"})]


# ---------------------------------------------------------------- file names


def test_the_state_file_name_is_module_qualname_suffix(state_dir):
    assert (
        make(Collector, state_dir).get_state_file_name() == "tests.unit.test_state.Collector.pickle"
    )
    assert (
        make(JsonCollector, state_dir).get_state_file_name()
        == "tests.unit.test_state.JsonCollector.json"
    )
    assert (
        make(Outer.Nested, state_dir).get_state_file_name()
        == "tests.unit.test_state.Outer.Nested.pickle"
    )


def test_get_state_file_name_can_be_overridden(state_dir):
    class Named(Collector):
        def get_state_file_name(self):
            return "feed-a.state"

    assert make(Named, state_dir).state_file_path == state_dir / "feed-a.state"


SCRIPT = """
    from stateful_collectors.collectors.base import AbstractBaseCollector
    from stateful_collectors.state import StatefulCollectorMixin


    class ScriptCollector(StatefulCollectorMixin, AbstractBaseCollector):
        config_spec = "[c]\\nstate_dir :: path\\n"


    def name():
        collector = ScriptCollector(config_text="[c]\\nstate_dir = /nonexistent\\n")
        return collector.get_state_file_name()


    if __name__ == "__main__":
        print(name())
"""


def python(*args: str, cwd: Path, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_script_gets_the_same_name_run_as_main_or_imported(tmp_path):
    (tmp_path / "my_collector.py").write_text(textwrap.dedent(SCRIPT))
    run_as_script = python("my_collector.py", cwd=tmp_path)
    imported = python("-c", "import my_collector; print(my_collector.name())", cwd=tmp_path)
    assert run_as_script == imported == "my_collector.ScriptCollector.pickle"
    # and the command line, given the file's path, agrees
    (tmp_path / "c.conf").write_text(f"[c]\nstate_dir = {tmp_path / 'state'}\n")
    cli = "from stateful_collectors.command.cli import main; raise SystemExit(main())"
    shown = python(
        "-c",
        cli,
        "state",
        "path",
        "my_collector.py:ScriptCollector",
        "--config",
        "c.conf",
        cwd=tmp_path,
    )
    assert shown == str(tmp_path / "state" / "my_collector.ScriptCollector.pickle")


def test_python_dash_m_gets_the_same_name_as_importing_the_module(tmp_path):
    package = tmp_path / "collectors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "feed.py").write_text(textwrap.dedent(SCRIPT))
    (package / "__main__.py").write_text(textwrap.dedent(SCRIPT))
    run_with_m = python("-m", "collectors.feed", cwd=tmp_path)
    imported = python("-c", "import collectors.feed as m; print(m.name())", cwd=tmp_path)
    assert run_with_m == imported == "collectors.feed.ScriptCollector.pickle"

    package_main = python("-m", "collectors", cwd=tmp_path)
    imported_main = python("-c", "import collectors.__main__ as m; print(m.name())", cwd=tmp_path)
    assert package_main == imported_main == "collectors.__main__.ScriptCollector.pickle"


@pytest.mark.parametrize("how", ["stdin", "-c"])
def test_a_collector_defined_outside_any_file_gets_a_clear_error(how, tmp_path):
    program = textwrap.dedent(SCRIPT).replace('if __name__ == "__main__":', "if True:")
    args, stdin = (["-"], program) if how == "stdin" else (["-c", program], None)
    result = subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "TypeError: cannot give ScriptCollector a stable state file name: it was defined in an "
        "interactive session; define it in a module or override get_state_file_name()"
    )


# ---------------------------------------------------------------- state_version


class Versioned(Collector):
    state_version = 2
    migrations: list[int]

    def migrate_state(self, state, from_version):
        self.migrations.append(from_version)
        if from_version == 0:
            state = {"last_utc": state["last"]}
        return {**state, "format": 2}


def make_versioned(state_dir: Path) -> Versioned:
    collector = make(Versioned, state_dir)
    collector.migrations = []
    return collector


def test_a_versioned_state_is_wrapped_in_the_file_and_unwrapped_on_load(state_dir):
    collector = make_versioned(state_dir)
    collector.save_state({"last_utc": "d"})
    collector.close()
    raw = pickle.loads(collector.state_file_path.read_bytes())
    assert raw == {"state_version": 2, "state": {"last_utc": "d"}}
    again = make_versioned(state_dir)
    assert again.load_state() == {"last_utc": "d"}
    assert again.migrations == []  # same version: no migration
    again.close()


def test_an_unversioned_file_counts_as_version_0_and_is_migrated(state_dir, caplog):
    caplog.set_level(logging.INFO, logger="stateful_collectors")
    old = make(Collector, state_dir)  # the collector before it declared state_version
    old.save_state({"last": "e"})
    old.close()
    path = state_dir / "tests.unit.test_state.Versioned.pickle"
    old.state_file_path.rename(path)

    collector = make_versioned(state_dir)
    state = collector.load_state()
    assert state == {"last_utc": "e", "format": 2}
    assert collector.migrations == [0]
    assert "migrating state of Versioned from version 0 to 2" in caplog.messages
    assert pickle.loads(path.read_bytes()) == {"last": "e"}  # loading does not write

    collector.save_state(state)  # the migrated state is saved with the new version
    collector.close()
    assert pickle.loads(path.read_bytes()) == {"state_version": 2, "state": state}


def test_an_older_version_is_passed_to_migrate_state(state_dir):
    collector = make_versioned(state_dir)
    collector.state_file_path.write_bytes(
        pickle.dumps({"state_version": 1, "state": {"last_utc": "f"}})
    )
    os.chmod(collector.state_file_path, 0o600)
    assert collector.load_state() == {"last_utc": "f", "format": 2}
    assert collector.migrations == [1]
    collector.close()


def test_without_state_version_the_file_holds_the_state_itself(state_dir):
    collector = make(Collector, state_dir)
    collector.save_state({"state_version": 9, "state": "not a wrapper here"})
    collector.close()
    assert pickle.loads(collector.state_file_path.read_bytes()) == {
        "state_version": 9,
        "state": "not a wrapper here",
    }


# ---------------------------------------------------------------- the single-instance lock


def test_load_state_takes_the_lock_and_close_releases_it(state_dir):
    first = make(Collector, state_dir)
    first.load_state()
    lock_path = state_dir / "tests.unit.test_state.Collector.pickle.lock"
    pid, since, host = lock_path.read_text().split()
    assert pid == str(os.getpid()) and host == os.uname().nodename
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", since)

    second = make(Collector, state_dir)
    with pytest.raises(AlreadyRunningError) as raised:
        second.load_state()
    assert str(raised.value) == (
        f"Collector is already running (pid {os.getpid()}, since {since} on {host}; "
        f"holds {lock_path}); this run did nothing"
    )
    with pytest.raises(AlreadyRunningError):
        second.save_state({"last_utc": "never"})
    assert not first.state_file_path.exists()

    first.close()
    second.load_state()
    second.close()


def test_the_lock_is_reentrant_for_its_holder(tmp_path):
    lock = SingleInstanceLock(tmp_path / "x.lock", owner="demo")
    with lock:
        assert lock.held
        lock.acquire()  # a no-op while held
        assert lock.held
    assert not lock.held


def test_a_symlinked_lock_file_is_refused(state_dir, tmp_path):
    (state_dir / "tests.unit.test_state.Collector.pickle.lock").symlink_to(tmp_path / "elsewhere")
    collector = make(Collector, state_dir)
    with pytest.raises(StateFileError) as raised:
        collector.load_state()
    assert str(raised.value).startswith(
        f"lock file {state_dir / 'tests.unit.test_state.Collector.pickle.lock'} is a symlink"
    )
    assert not (tmp_path / "elsewhere").exists()


def test_load_state_takes_the_lock_before_it_reads_the_file(state_dir):
    """A run that finds the lock taken never reads the state (another run may be saving it).

    With a state file that reading would refuse (group-writable) and the lock
    held elsewhere, the error must be "already running": the file was not even
    opened, let alone judged.
    """
    running = make(Collector, state_dir)
    running.acquire_state_lock()
    running.state_file_path.write_bytes(pickle.dumps({"last_utc": None}))
    os.chmod(running.state_file_path, 0o620)
    second = make(Collector, state_dir)
    with pytest.raises(AlreadyRunningError):
        second.load_state()
    running.close()
    second.close()
