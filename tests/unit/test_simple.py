"""BaseTwoPhaseCollector and BaseSimpleCollector (n6 4.x's names) on the confirmed publishing run.

Real outbox files and state files in a temp dir; one test against the real
RabbitMQ broker shows that `after_completed_publishing()` runs once the broker
holds every message. `add_collector_entry_point_functions` at the end.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from stateful_collectors import (
    AlreadyRunningError,
    BaseSimpleCollector,
    BaseTwoPhaseCollector,
    StatefulCollectorMixin,
    add_collector_entry_point_functions,
)
from stateful_collectors.sinks.outbox import OutboxSink, read_outbox
from stateful_collectors.testing import collect, make_config


class Piles(StatefulCollectorMixin, BaseTwoPhaseCollector):
    """Publishes one message per item of `pile`; records the order of the steps."""

    raw_type = "stream"
    config_spec = """
        [piles]
        state_dir :: path
    """
    pile: list | None = ["a", "b", "c"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.events: list = []

    def get_source_channel(self, **processed_data):
        return "piles"

    def get_state_file_name(self):
        return "piles.pickle"  # one state (and lock) for the subclasses below

    def prepare_state(self):
        self.events.append("prepare_state")
        super().prepare_state()

    def obtain_input_pile(self):
        self.events.append("obtain_input_pile")
        return self.pile

    def generate_input_data_dicts(self, input_pile, /):
        for item in input_pile:
            yield {"item": item}

    def get_output_data_body(self, source, item, **processed_data):
        return item

    def run(self):
        self.events.append("run")
        super().run()

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.events.append(("after_completed_publishing", len(read_outbox(self.outbox))))
        self.save_state(len(read_outbox(self.outbox)))


def make(cls, tmp_path: Path, state_dir: Path):
    collector = cls(
        config_text=make_config("piles", state_dir=state_dir),
        sink=OutboxSink(tmp_path / "out.jsonl"),
    )
    collector.outbox = tmp_path / "out.jsonl"
    return collector


def test_one_message_per_input_dict_then_the_hook_with_everything_confirmed(tmp_path, state_dir):
    with make(Piles, tmp_path, state_dir) as collector:
        collector.run_collection()
    assert [m.body for m in read_outbox(tmp_path / "out.jsonl")] == [b"a", b"b", b"c"]
    assert collector.events == [
        "prepare_state",
        "obtain_input_pile",
        "run",
        ("after_completed_publishing", 3),  # the three messages are in the outbox already
    ]
    assert collector.published_count == 3
    assert collector.load_state() == 3


def test_a_none_pile_publishes_nothing_opens_no_sink_and_skips_the_hook(
    tmp_path, state_dir, caplog
):
    class Nothing(Piles):
        pile = None

    caplog.set_level(logging.INFO, logger="stateful_collectors.collectors.simple")
    with make(Nothing, tmp_path, state_dir) as collector:
        collector.run_collection()
    assert collector.events == ["prepare_state", "obtain_input_pile"]
    assert not (tmp_path / "out.jsonl").exists()  # the outbox was never opened
    assert collector.sink_description is None
    assert not collector.state_saved
    (record,) = caplog.records
    assert record.getMessage().endswith("<locals>.Nothing: nothing to publish")


def test_an_empty_pile_publishes_nothing_warns_and_still_calls_the_hook(
    tmp_path, state_dir, caplog
):
    class Empty(Piles):
        pile = []

    with make(Empty, tmp_path, state_dir) as collector:
        collector.run_collection()
    assert collector.events[-1] == ("after_completed_publishing", 0)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().endswith(
        "<locals>.Empty: generate_input_data_dicts() yielded nothing; no message published"
    )


def test_the_lock_is_held_before_the_pile_is_obtained(tmp_path, state_dir):
    seen = []

    class Racing(Piles):
        def obtain_input_pile(self):
            with make(Piles, tmp_path, state_dir) as second:
                try:
                    second.run_collection()
                except AlreadyRunningError:
                    seen.append("second run refused")
                seen.append(second.events)
            return super().obtain_input_pile()

    with make(Racing, tmp_path, state_dir) as collector:
        collector.run_collection()
    assert seen == ["second run refused", ["prepare_state"]]


def test_a_failure_while_obtaining_publishes_and_saves_nothing(tmp_path, state_dir):
    class Failing(Piles):
        def obtain_input_pile(self):
            raise OSError("source down")

    with make(Failing, tmp_path, state_dir) as collector:
        with pytest.raises(OSError, match="source down"):
            collector.run_collection()
    assert collector.events == ["prepare_state"]
    assert not (tmp_path / "out.jsonl").exists()
    assert not collector.state_file_path.exists()


def test_a_failure_while_publishing_skips_the_hook(tmp_path, state_dir):
    class BadBody(Piles):
        pile = ["a", object()]

    with make(BadBody, tmp_path, state_dir) as collector:
        with pytest.raises(TypeError, match="a message body must be bytes"):
            collector.run_collection()
    assert "after_completed_publishing" not in str(collector.events)
    assert not collector.state_file_path.exists()
    assert read_outbox(tmp_path / "out.jsonl") == []  # "a" was never confirmed


class Bodies(StatefulCollectorMixin, BaseSimpleCollector):
    raw_type = "stream"
    config_spec = """
        [bodies]
        state_dir :: path
    """
    body: object = b"payload"

    def get_source_channel(self, **processed_data):
        return "bodies"

    def obtain_data_body(self):
        return self.body

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state("saved")


@pytest.mark.parametrize(
    ("body", "bodies", "saved"),
    [(b"payload", [b"payload"], True), (b"", [b""], True), (None, [], False)],
    ids=["bytes", "empty bytes are published", "None publishes nothing"],
)
def test_base_simple_collector_publishes_one_body_or_nothing(state_dir, body, bodies, saved):
    class One(Bodies):
        pass

    One.body = body
    run = collect(One, make_config("bodies", state_dir=state_dir))
    assert run.bodies == bodies
    assert run.state_saved is saved
    if bodies:
        assert run.messages[0].routing_key == "bodies.bodies"


@pytest.mark.broker
def test_after_completed_publishing_runs_when_the_broker_holds_the_message(
    state_dir, broker, bound_queue
):
    queue = bound_queue("bodies.bodies")
    in_queue = []

    class Checking(Bodies):
        def after_completed_publishing(self):
            in_queue.append(broker.message_count(queue))
            super().after_completed_publishing()

    config = make_config("bodies", state_dir=state_dir) + f"[rabbitmq]\nurl = {broker.url}\n"
    with Checking(config_text=config) as collector:
        collector.run_collection()
        assert collector.load_state() == "saved"
    assert in_queue == [1]
    (message,) = broker.drain(queue)
    assert message.body == b"payload"


# ---------------------------------------------------------------- entry point functions


def test_add_collector_entry_point_functions_makes_a_main_per_collector_class(monkeypatch):
    module = types.ModuleType("feeds_for_entry_points")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    module.Bodies = Bodies  # a collector class
    module.BaseSimpleCollector = BaseSimpleCollector  # imported base classes count (as in n6)
    module._Private = Bodies  # not a public name
    module.helper = len  # not a class

    add_collector_entry_point_functions(module.__name__)

    assert module.Bodies_main == Bodies.cli_main
    assert module.BaseSimpleCollector_main == BaseSimpleCollector.cli_main
    assert not hasattr(module, "_Private_main")
    assert not hasattr(module, "helper_main")


def test_a_main_function_runs_the_collector_once(tmp_path, state_dir, monkeypatch, capsys):
    module = types.ModuleType("bodies_module")
    module.Bodies = Bodies
    add_collector_entry_point_functions(module)
    config = tmp_path / "bodies.conf"
    config.write_text(make_config("bodies", state_dir=state_dir))
    monkeypatch.setenv("STATEFUL_COLLECTORS_OUTBOX", str(tmp_path / "out.jsonl"))

    assert module.Bodies_main(["--config", str(config)]) == 0
    assert "Bodies: ok: published 1 message(s)" in capsys.readouterr().err
    assert [m.body for m in read_outbox(tmp_path / "out.jsonl")] == [b"payload"]
