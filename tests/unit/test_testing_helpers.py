"""The helpers users test their own collectors with: make_config, collect, CollectedRun."""

from __future__ import annotations

from pathlib import Path

import pytest

from stateful_collectors import BaseCollector, StatefulCollectorMixin
from stateful_collectors.config import ConfigSource, ConfigSpec
from stateful_collectors.testing import CollectedRun, collect, make_config
from tests.support.collectors.cli import Counter, Plain


def test_make_config_turns_values_into_text_the_converters_read_back(tmp_path):
    text = make_config(
        "feed",
        url="http://localhost:8808/items.json",
        timeout=5,
        verbose=True,
        quiet=False,
        tags=["a", "b"],
        extra={"k": [1, 2]},
        state_dir=tmp_path,
        unset=None,
        notes="first line\nsecond line",
    )
    assert "unset" not in text
    spec = ConfigSpec.parse(
        """
        [feed]
        url :: str
        timeout :: int
        verbose :: bool
        quiet :: bool
        tags :: list_of_str
        extra :: json
        state_dir :: path
        unset = default :: str
        notes :: str
        """
    )
    section = ConfigSource.from_text(text).section(spec)
    assert dict(section) == {
        "url": "http://localhost:8808/items.json",
        "timeout": 5,
        "verbose": True,
        "quiet": False,
        "tags": ["a", "b"],
        "extra": {"k": [1, 2]},
        "state_dir": tmp_path,
        "unset": "default",
        "notes": "first line\nsecond line",
    }


def test_collect_runs_twice_and_hands_back_messages_and_state(state_dir):
    config = make_config("counter", state_dir=state_dir)
    first = collect(Counter, config)
    assert isinstance(first, CollectedRun)
    assert first.bodies == [b"run 1"]
    assert first.state == {"runs": 1} and first.state_saved
    assert first.state_file == state_dir / "tests.support.collectors.cli.Counter.pickle"
    second = collect(Counter, config)
    assert second.bodies == [b"run 2"] and second.state == {"runs": 2}
    assert second.messages[0].routing_key == "counter.runs"
    assert second.messages[0].properties["type"] == "stream"


def test_collect_lets_the_error_through_and_the_state_stays(state_dir):
    collect(Counter, make_config("counter", state_dir=state_dir))
    saved = (state_dir / "tests.support.collectors.cli.Counter.pickle").read_bytes()
    with pytest.raises(ConnectionError, match="the source went away"):
        collect(Counter, make_config("counter", state_dir=state_dir, mode="fail"))
    assert (state_dir / "tests.support.collectors.cli.Counter.pickle").read_bytes() == saved
    assert collect(Counter, make_config("counter", state_dir=state_dir)).bodies == [b"run 2"]


def test_collect_into_a_given_outbox_returns_only_this_runs_messages(tmp_path, state_dir):
    outbox = tmp_path / "shared.jsonl"
    config = make_config("counter", state_dir=state_dir)
    collect(Counter, config, outbox=outbox)
    second = collect(Counter, config, outbox=str(outbox))
    assert second.bodies == [b"run 2"]
    assert outbox.read_text().count("\n") == 2


def test_collect_a_collector_without_state():
    run = collect(Plain, "[plain_feed]\n")
    assert run.bodies == [b"plain"]
    assert (run.state, run.state_file, run.state_saved) == (None, None, False)


class NeverSaves(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"
    config_spec = "[never_saves]\nstate_dir :: path\n"

    def make_default_state(self):
        return "the default"

    def start_publishing(self):
        self.inner_stop()


def test_collect_reports_a_run_that_saved_nothing(state_dir):
    run = collect(NeverSaves, make_config("never_saves", state_dir=state_dir))
    assert run.messages == [] and run.bodies == []
    assert run.state is None and run.state_saved is False
    assert run.state_file == Path(state_dir) / "tests.unit.test_testing_helpers.NeverSaves.pickle"
    assert not run.state_file.exists()


def test_json_bodies():
    class JsonOut(Plain):
        def get_output_data_body(self, **kwargs):
            return '{"items": [1, 2]}'

    assert collect(JsonOut, "[plain_feed]\n").json_bodies() == [{"items": [1, 2]}]
