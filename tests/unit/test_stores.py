"""Choosing a state store: the config selects one from `STORES`, as it selects a sink.

* No section and no variable: the state file. `[postgresql]`, or
  `$STATEFUL_COLLECTORS_POSTGRESQL_DSN`, selects the PostgreSQL store (made
  here without connecting; tests/integration/test_postgresql_store.py runs it
  against a server).
* Every entry of `STORES` and `SINKS` names a class that can make one from the
  config, and the sections they declare are the ones a collector accepts.
* A new store is a class and one entry in `STORES`: this module's
  `MemoryStore` is added that way, and a stateful collector keeps its state in
  it, takes its lock, and the `state` commands work on it, with nothing else
  changed.

The file store's own behaviour is tested in test_state.py (through the mixin)
and test_stores_files.py (its backups).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stateful_collectors import BaseCollector, StatefulCollectorMixin, sinks
from stateful_collectors.command import state_commands
from stateful_collectors.config import BackEnd, ConfigSource, ConfigSpec
from stateful_collectors.errors import AlreadyRunningError, ConfigError, UsageError
from stateful_collectors.state import stores
from stateful_collectors.state.store import Backup, StateStore, StoreRequest
from stateful_collectors.state.stores.files import FileStore
from stateful_collectors.testing import collect, make_config

REQUEST = StoreRequest("demo.Demo.json", codec="json", owner="Demo", state_dir=Path("/nowhere"))


def chosen(text: str, env: dict[str, str] | None = None) -> StateStore:
    return stores.store_from_config(ConfigSource.from_text(text), REQUEST, env or {})


def test_without_a_section_or_a_variable_the_state_is_a_file():
    store = chosen("[demo]\n")
    assert isinstance(store, FileStore)
    assert store.location == "/nowhere/demo.Demo.json"


def test_the_file_store_needs_a_state_dir():
    request = StoreRequest("demo.Demo.json", codec="json", owner="Demo")
    with pytest.raises(TypeError, match=r"^Demo uses StatefulCollectorMixin but its config has"):
        stores.store_from_config(ConfigSource.from_text("[demo]\n"), request, {})


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("[postgresql]\ndsn = postgresql://collector@db.example.org/collectors\n", {}),
        ("[demo]\n", {"STATEFUL_COLLECTORS_POSTGRESQL_DSN": "postgresql://db.example.org/c"}),
    ],
    ids=["section", "variable"],
)
def test_a_section_or_a_variable_selects_the_postgresql_store(text, env):
    pytest.importorskip("psycopg", reason="needs psycopg: uv sync installs it")
    from stateful_collectors.state.stores.postgresql import PostgresStore

    store = chosen(text, env)
    assert isinstance(store, PostgresStore)
    assert store.location.endswith("table collector_state, key demo.Demo.json")
    assert stores.overriding_variable(env) == (
        "STATEFUL_COLLECTORS_POSTGRESQL_DSN" if env else None
    )


def test_every_entry_names_a_class_that_makes_one_from_the_config():
    for back_end in (*stores.STORES, *sinks.SINKS):
        if "postgresql" in back_end.target or "amqp" in back_end.target:
            pytest.importorskip("psycopg" if "postgresql" in back_end.target else "pika")
        made = back_end.load()
        assert isinstance(made, type), back_end
        assert callable(made.from_config), back_end
    assert stores.SECTIONS == tuple(s.section for s in stores.STORES if s.section)
    assert sinks.SECTIONS == tuple(s.section for s in sinks.SINKS if s.section)
    assert stores.STORES[-1].target.endswith(":FileStore")  # the default is the last
    assert sinks.SINKS[-1].target.endswith(":OutboxSink")


def test_the_sinks_are_chosen_the_same_way(tmp_path):
    outbox = sinks.sink_from_config(ConfigSource.from_text(f"[outbox]\npath = {tmp_path}/o\n"), {})
    assert type(outbox).__name__ == "OutboxSink"
    broker = sinks.sink_from_config(
        ConfigSource.from_text("[feed]\n"), {"STATEFUL_COLLECTORS_AMQP_URL": "amqp://b/%2F"}
    )
    assert type(broker).__name__ == "AmqpSink"


# ---------------------------------------------------------------- a new store


class MemoryStore:
    """A store for the tests: the state of each key in a dict that outlives the collectors."""

    saved: dict[str, bytes] = {}
    backups: dict[str, list[bytes]] = {}
    locked: set[str] = set()
    kind = "memory slot"

    def __init__(self, key: str, owner: str) -> None:
        self.key, self.owner, self.held = key, owner, False
        self.location = f"memory:{key}"
        self.description = f"memory slot {key}"

    @classmethod
    def from_config(cls, source, request, env):
        options = source.section(_MEMORY_SPEC, "memory")
        return cls(f"{options['prefix']}{request.key}", request.owner)

    @property
    def lock_held(self) -> bool:
        return self.held

    def acquire_lock(self) -> None:
        if not self.held:
            if self.key in self.locked:
                raise AlreadyRunningError(f"{self.owner} is already running")
            self.locked.add(self.key)
            self.held = True

    def release_lock(self) -> None:
        if self.held:
            self.locked.discard(self.key)
            self.held = False

    def check_writable(self) -> None:
        pass

    def exists(self) -> bool:
        return self.key in self.saved

    def read(self) -> bytes | None:
        return self.saved.get(self.key)

    def open_read(self) -> bytes | io.BufferedReader | None:
        return self.read()

    def write(self, data: bytes) -> None:
        self.saved[self.key] = data

    def backup(self) -> str | None:
        if self.key not in self.saved:
            return None
        kept = self.backups.setdefault(self.key, [])
        kept.append(self.saved[self.key])
        return f"memory-backup-{len(kept)}"

    def remove(self) -> None:
        del self.saved[self.key]

    def discard_backup(self, backup: str) -> None:
        self.backups[self.key].pop()

    def restore_command(self, backup: str) -> str:
        return f"stateful-collectors state restore ... {backup}"

    def list_backups(self) -> list[Backup]:
        kept = self.backups.get(self.key, [])
        return [Backup(f"memory-backup-{n}", "now", len(data)) for n, data in enumerate(kept, 1)]

    def read_backup(self, backup: str) -> bytes:
        for known, data in zip(self.list_backups(), self.backups.get(self.key, []), strict=True):
            if known.name == backup:
                return data
        raise UsageError(f"{backup} is not a backup of {self.description}")


_MEMORY_SPEC = ConfigSpec.parse("[memory]\nprefix = :: str\n", owner="the [memory] section")


class Counting(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"
    state_codec = "json"
    config_spec = "[counting]\n"

    def make_default_state(self):
        return {"runs": 0}

    def run(self):
        self.state = self.load_state()
        self.state["runs"] += 1
        super().run()
        self.save_state(self.state)

    def get_source_channel(self, **processed_data):
        return "runs"

    def get_output_data_body(self, **kwargs):
        return str(self.state["runs"])

    def start_publishing(self):
        self.publish_output(*self.get_output_components())
        self.inner_stop()


@pytest.fixture
def memory_store(monkeypatch):
    """`MemoryStore` added to `STORES` as a new store is: one entry (and what it declares)."""
    entry = BackEnd("memory", None, f"{__name__}:MemoryStore")
    monkeypatch.setattr(stores, "STORES", (entry, *stores.STORES))
    monkeypatch.setattr(stores, "SECTIONS", tuple(s.section for s in stores.STORES if s.section))
    MemoryStore.saved.clear()
    MemoryStore.backups.clear()
    MemoryStore.locked.clear()
    return MemoryStore


def test_a_store_added_with_one_entry_keeps_a_collectors_state(memory_store):
    config = "[counting]\n[memory]\nprefix = test-\n"
    assert collect(Counting, config).bodies == [b"1"]
    second = collect(Counting, config)
    assert second.bodies == [b"2"] and second.state == {"runs": 2}
    key = "test-tests.unit.test_stores.Counting.json"
    assert memory_store.saved == {key: b'{\n  "runs": 2\n}\n'}
    assert str(second.state_file) == f"memory:{key}"
    assert Counting.library_sections()[-2:] == ("memory", "postgresql")


def test_a_store_added_with_one_entry_has_the_lock_and_the_state_commands(memory_store):
    config = "[counting]\n[memory]\nprefix = \n"
    collect(Counting, config)
    with Counting(config_text=config) as running, Counting(config_text=config) as second:
        running.acquire_state_lock()
        with pytest.raises(AlreadyRunningError):
            second.load_state()
    with Counting(config_text=config) as collector:
        collector.acquire_state_lock()
        assert state_commands.show_state(collector) == ('{"runs": 1}', None)
        assert state_commands.set_state(collector, '{"runs": 7}', "VALUE").startswith(
            "state saved to memory:tests.unit.test_stores.Counting.json; the old state is kept "
            "in memory-backup-1"
        )
        assert state_commands.restore_backup(collector, "memory-backup-1").startswith(
            "state restored from memory-backup-1"
        )
        assert collector.load_state() == {"runs": 1}


def test_without_its_entry_a_stores_section_is_a_mistake():
    with pytest.raises(ConfigError, match=r"unknown section \[memory\]"):
        Counting(config_text="[counting]\n[memory]\nprefix = x\n")
    config = make_config("counting") + "[memory]\nprefix = x\n"
    with pytest.raises(ConfigError, match=r"this collector reads \[counting\] and the library's"):
        collect(Counting, config)
