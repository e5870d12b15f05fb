"""Publishing as n6 4.40's collectors expect it: iteratively, with n6's properties and heartbeat.

`FLUSH_OUT` (`await self.PubIterFlushOut`) returns once everything published
so far is confirmed: the test reads the outbox right after it. A two-phase
collector publishes through `publish_iteratively()`. `content_type` goes
only with `file` and `blacklist` messages, and `raw_type` set on the
instance counts.
"""

from __future__ import annotations

import pytest

from stateful_collectors.n6 import BaseCollector, BaseTwoPhaseCollector, combined_config_spec
from stateful_collectors.sinks.outbox import OutboxSink, read_outbox
from stateful_collectors.testing import collect


class Iterative(BaseCollector):
    raw_type = "stream"
    content_type = "text/plain"
    config_spec_pattern = combined_config_spec(
        "[{collector_class_name}]\nheartbeat_interval = 7 :: int\n"
    )
    seen: list[int]
    variant = "async"

    def get_source(self, **processed_data):
        return "example.iterative"

    def get_output_data_body(self, *, body, **processed_data):
        return body

    def start_publishing(self):
        super().start_publishing()
        self.start_iterative_publishing()

    def publish_iteratively(self):
        return self._coroutine() if self.variant == "async" else self._generator()

    async def _coroutine(self):
        for number in range(3):
            self.publish_output(*self.get_output_components(body=b"%d" % number))
            await self.PubIter
        self.raw_type = "file"
        self.publish_output(*self.get_output_components(body=b"file"))
        await self.PubIterFlushOut
        self.seen.append(len(read_outbox(self.outbox)))

    def _generator(self):
        self.publish_output(*self.get_output_components(body=b"one"))
        yield self.FLUSH_OUT
        self.seen.append(len(read_outbox(self.outbox)))
        yield "not a marker"


def run_iterative(tmp_path, variant):
    outbox = tmp_path / "outbox.jsonl"
    collector = Iterative(config_text="[Iterative]\n", sink=OutboxSink(outbox))
    collector.seen, collector.variant, collector.outbox = [], variant, outbox
    return collector, outbox


def test_flush_out_returns_once_everything_published_is_confirmed(tmp_path):
    collector, outbox = run_iterative(tmp_path, "async")
    collector.run_collection()
    assert collector.seen == [4]  # the four messages were in the outbox, fsynced, at FLUSH_OUT
    messages = read_outbox(outbox)
    assert [m.body for m in messages] == [b"0", b"1", b"2", b"file"]
    assert [m.properties["type"] for m in messages] == ["stream"] * 3 + ["file"]
    # content_type only with the file, as n6 sends it
    assert ["content_type" in m.properties for m in messages] == [False, False, False, True]
    assert messages[-1].properties["content_type"] == "text/plain"


def test_a_marker_other_than_none_or_flush_out_fails_the_run_after_what_was_confirmed(tmp_path):
    collector, outbox = run_iterative(tmp_path, "generator")
    with pytest.raises(ValueError, match=r"yielded 'not a marker'; yield None or self.FLUSH_OUT"):
        collector.run_collection()
    assert collector.seen == [1]


def test_heartbeat_interval_sets_the_rabbitmq_connections_heartbeat(monkeypatch):
    pytest.importorskip("pika", reason="pika is needed for the RabbitMQ sink (pip install pika)")
    collector = Iterative(
        config_text="[Iterative]\n[rabbitmq]\nurl = amqp://guest:guest@127.0.0.1:1/%2F\n"
    )
    assert collector.make_sink().parameters.heartbeat == 7


class TwoPhase(BaseTwoPhaseCollector):
    raw_type = "blacklist"
    content_type = "text/csv"
    config_spec_pattern = combined_config_spec("[{collector_class_name}]\n")

    def get_source(self, **processed_data):
        return "example.two-phase"

    def obtain_input_pile(self):
        return [b"a", b"b"]

    def generate_input_data_dicts(self, input_pile, /):
        for body in input_pile:
            yield {"body": body}

    def get_output_data_body(self, *, body, **processed_data):
        return body

    def publish_iteratively(self):
        self.steps = []
        for step in super().publish_iteratively():
            self.steps.append(self.published_count)
            yield step


def test_a_two_phase_collector_publishes_through_publish_iteratively():
    run = collect(TwoPhase, "[TwoPhase]\n")
    assert run.bodies == [b"a", b"b"]
    assert [m.properties["content_type"] for m in run.messages] == ["text/csv"] * 2
    assert [m.properties["type"] for m in run.messages] == ["blacklist"] * 2


def test_a_two_phase_collector_yields_after_each_message(tmp_path):
    collector = TwoPhase(config_text="[TwoPhase]\n", sink=OutboxSink(tmp_path / "outbox.jsonl"))
    collector.run_collection()
    assert collector.steps == [1, 2]


def test_an_instance_raw_type_is_checked_as_n6_checks_it(tmp_path):
    collector, _ = run_iterative(tmp_path, "async")
    collector.raw_type = "nonsense"
    with pytest.raises(
        ValueError, match=r"raw_type is 'nonsense'; use one of: stream, file, blacklist"
    ):
        collector.get_output_prop_kwargs(source="example.x", output_data_body=b"")
    collector.raw_type, collector.content_type = "file", None
    with pytest.raises(ValueError, match=r"has raw_type 'file' but no content_type"):
        collector.get_output_prop_kwargs(source="example.x", output_data_body=b"")
