"""The collector base classes, run for real against the JSON Lines outbox in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stateful_collectors import BaseCollector, CollectorStopped, StatefulCollectorMixin
from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.errors import AlreadyRunningError, ExitStatus, PublishError
from stateful_collectors.sinks.outbox import OutboxSink, read_outbox
from stateful_collectors.state.lock import SingleInstanceLock


class OneShot(BaseCollector):
    """Publishes the bodies in `self.bodies` with the template, then stops."""

    raw_type = "stream"
    config_spec = """
        [one_shot]
    """
    bodies: list = ["hello"]

    def get_source_channel(self, **processed_data):
        return "chan"

    def get_output_data_body(self, source, body, **processed_data):
        return body

    def start_publishing(self):
        for body in self.bodies:
            self.publish_output(*self.get_output_components(body=body))
        self.inner_stop()


def make(cls, tmp_path: Path, config_text: str | None = None, **kwargs):
    section = cls.get_config_spec().main_section if cls.get_config_spec() else "unused"
    text = config_text if config_text is not None else f"[{section}]\n"
    return cls(config_text=text, sink=OutboxSink(tmp_path / "out.jsonl"), **kwargs)


def outbox(tmp_path: Path):
    path = tmp_path / "out.jsonl"
    return read_outbox(path) if path.exists() else []


# ---------------------------------------------------------------- raw_type


@pytest.mark.parametrize("bad", ["event", "Stream", "", 1])
def test_a_bad_raw_type_fails_when_the_class_is_created(bad):
    with pytest.raises(TypeError, match=r"Bad.raw_type is .*use one of: stream, file, blacklist"):

        class Bad(BaseCollector):
            raw_type = bad


@pytest.mark.parametrize("raw_type", ["file", "blacklist"])
def test_file_and_blacklist_need_a_content_type(raw_type):
    with pytest.raises(TypeError, match=rf"NoType has raw_type '{raw_type}'.*content_type"):
        type("NoType", (BaseCollector,), {"raw_type": raw_type})

    with_type = type("WithType", (BaseCollector,), {"raw_type": raw_type, "content_type": "a/b"})
    assert (with_type.raw_type, with_type.content_type) == (raw_type, "a/b")


def test_a_subclass_cannot_drop_the_inherited_content_type():
    class CsvFile(BaseCollector):
        raw_type = "file"
        content_type = "text/csv"

    with pytest.raises(TypeError, match="Dropped has raw_type 'file'"):

        class Dropped(CsvFile):
            content_type = None


def test_a_collector_without_raw_type_fails_when_instantiated(tmp_path):
    class Abstract(BaseCollector):
        config_spec = "[abstract]\n"

    with pytest.raises(TypeError, match="Abstract sets no raw_type; add raw_type = 'stream'"):
        make(Abstract, tmp_path)


# ---------------------------------------------------------------- the message template


def test_get_output_components_calls_the_hooks_in_order_with_their_arguments(tmp_path):
    calls = []

    class Recording(OneShot):
        def process_input_data(self, **input_data):
            calls.append(("process_input_data", input_data))
            return {**input_data, "processed": True}

        def get_source_provider(self):
            calls.append(("get_source_provider", {}))
            return super().get_source_provider()

        def get_source_channel(self, **processed_data):
            calls.append(("get_source_channel", processed_data))
            return "chan"

        def get_output_rk(self, source, **processed_data):
            calls.append(("get_output_rk", {"source": source, **processed_data}))
            return f"rk.{source}"

        def get_output_data_body(self, source, **processed_data):
            calls.append(("get_output_data_body", {"source": source, **processed_data}))
            return "the body"

        def get_output_prop_kwargs(self, source, output_data_body, **processed_data):
            calls.append(
                (
                    "get_output_prop_kwargs",
                    {"source": source, "output_data_body": output_data_body, **processed_data},
                )
            )
            return super().get_output_prop_kwargs(source, output_data_body, **processed_data)

        def validate_source(self, source):
            calls.append(("validate_source", {"source": source}))
            super().validate_source(source)

        def get_output_message_id(self, *, source, created_timestamp, **processed_data):
            assert isinstance(created_timestamp, int)
            calls.append(("get_output_message_id", {"source": source, **processed_data}))
            return super().get_output_message_id(
                source=source, created_timestamp=created_timestamp, **processed_data
            )

    collector = make(Recording, tmp_path)
    rk, body, props = collector.get_output_components(item=7)

    processed = {"item": 7, "processed": True}
    source = {"source": "one-shot.chan"}
    assert calls == [
        ("process_input_data", {"item": 7}),
        ("get_source_provider", {}),
        ("get_source_channel", processed),
        ("validate_source", source),
        ("get_output_rk", {**source, **processed}),
        ("get_output_data_body", {**source, **processed}),
        ("get_output_prop_kwargs", {**source, "output_data_body": "the body", **processed}),
        ("get_output_message_id", {**source, "output_data_body": "the body", **processed}),
    ]
    assert (rk, body) == ("rk.one-shot.chan", "the body")
    assert props["message_id"] == message_id_for("one-shot.chan", b"the body")
    assert props["type"] == "stream"
    assert props["headers"] == {}
    assert isinstance(props["timestamp"], int)
    assert "content_type" not in props


def test_a_file_collector_sends_its_content_type(tmp_path):
    class CsvCollector(OneShot):
        raw_type = "file"
        content_type = "text/csv"

    rk, body, props = make(CsvCollector, tmp_path, "[one_shot]\n").get_output_components(body="a,b")
    assert (props["type"], props["content_type"]) == ("file", "text/csv")


# ---------------------------------------------------------------- the source


@pytest.mark.parametrize(
    "channel",
    ["", "has space", "under_score", "dot.ted", "zażółć", "x" * 33, None, 7],
)
def test_an_invalid_channel_is_refused(tmp_path, channel):
    class BadChannel(OneShot):
        def get_source_channel(self, **processed_data):
            return channel

    with pytest.raises(ValueError, match=r"source channel .* of .*BadChannel is invalid; use 1-32"):
        make(BadChannel, tmp_path).get_source()


@pytest.mark.parametrize("provider", ["", "has space", "a_b", "a.b", "x" * 33])
def test_an_invalid_provider_is_refused(tmp_path, provider):
    class BadProvider(OneShot):
        source_provider = provider

    with pytest.raises(ValueError, match=r"source provider .*source_provider = '...'"):
        make(BadProvider, tmp_path).get_source()


@pytest.mark.parametrize("channel", ["a", "x" * 32, "Feed-2026", "0-9"])
def test_valid_channels(tmp_path, channel):
    class GoodChannel(OneShot):
        def get_source_channel(self, **processed_data):
            return channel

    assert make(GoodChannel, tmp_path).get_source() == f"one-shot.{channel}"


def test_the_default_provider_is_the_section_name_with_hyphens(tmp_path):
    class Seedish(OneShot):
        config_spec = "[my_statefull_collector]\n"

    assert make(Seedish, tmp_path).get_source() == "my-statefull-collector.chan"


def test_the_class_attribute_sets_the_provider(tmp_path):
    class Named(OneShot):
        source_provider = "cert-pl"

    assert make(Named, tmp_path).get_source() == "cert-pl.chan"


def test_a_declared_source_provider_option_sets_the_provider(tmp_path):
    class Configurable(OneShot):
        config_spec = """
            [configurable]
            source_provider = default-provider :: str
        """

    assert make(Configurable, tmp_path).get_source() == "default-provider.chan"
    configured = make(Configurable, tmp_path, "[configurable]\nsource_provider = from-config\n")
    assert configured.get_source() == "from-config.chan"


def test_an_undeclared_source_provider_option_is_a_config_error(tmp_path):
    from stateful_collectors.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option 'source_provider'"):
        make(OneShot, tmp_path, "[one_shot]\nsource_provider = nope\n")


# ---------------------------------------------------------------- message ids and bodies


def test_message_ids_are_deterministic_across_runs(tmp_path):
    class Twice(OneShot):
        bodies = ["same", "other"]

    for _ in range(2):
        with make(Twice, tmp_path) as collector:
            collector.run_collection()
    ids = [message.properties["message_id"] for message in outbox(tmp_path)]
    assert ids[0] == ids[2] and ids[1] == ids[3]
    assert ids[0] != ids[1]
    assert ids[0] == message_id_for("one-shot.chan", b"same")
    assert message_id_for("one-shot.other", b"same") != ids[0]


class Bytesy:
    def __bytes__(self):
        return b"\x00from __bytes__"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xff\x00raw", b"\xff\x00raw"),
        ("zażółć", "zażółć".encode()),
        (bytearray(b"array"), b"array"),
        (Bytesy(), b"\x00from __bytes__"),
    ],
)
def test_bodies_are_coerced_to_bytes(tmp_path, body, expected):
    class Body(OneShot):
        bodies = [body]

    with make(Body, tmp_path) as collector:
        collector.run_collection()
    (message,) = outbox(tmp_path)
    assert message.body == expected
    assert message.properties["message_id"] == message_id_for("one-shot.chan", expected)


@pytest.mark.parametrize("body", [42, {"a": 1}, None])
def test_other_bodies_are_a_type_error_and_nothing_is_published(tmp_path, body):
    class Body(OneShot):
        bodies = [body]

    with make(Body, tmp_path) as collector:
        with pytest.raises(TypeError, match=r"body must be bytes, str or define __bytes__"):
            collector.run_collection()
    assert outbox(tmp_path) == []


def test_publish_output_coerces_a_body_given_directly(tmp_path):
    class Direct(OneShot):
        def start_publishing(self):
            self.publish_output("rk", "text", {"type": "stream"})
            with pytest.raises(TypeError, match="got int"):
                self.publish_output("rk", 5)
            self.inner_stop()

    with make(Direct, tmp_path) as collector:
        collector.run_collection()
    assert [(m.routing_key, m.body) for m in outbox(tmp_path)] == [("rk", b"text")]


# ---------------------------------------------------------------- the run's rules


def test_publish_output_after_inner_stop_is_an_error_and_nothing_is_confirmed(tmp_path):
    class Late(OneShot):
        def start_publishing(self):
            self.publish_output("rk", "first")
            self.inner_stop()
            self.publish_output("rk", "too late")

    with make(Late, tmp_path) as collector:
        with pytest.raises(RuntimeError, match=r"publish_output\(\) after inner_stop\(\)"):
            collector.run_collection()
    assert outbox(tmp_path) == []


def test_publish_output_outside_run_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"only be called while run\(\) is running"):
        make(OneShot, tmp_path).publish_output("rk", "body")


class Stateful(StatefulCollectorMixin, OneShot):
    """The seed's pattern: load, publish (super().run()), save."""

    config_spec = """
        [stateful]
        state_dir :: path
    """
    events: list

    def get_state_file_name(self):
        return "stateful.pickle"  # shared by the subclasses below

    def make_default_state(self):
        return {"runs": 0}

    def run(self):
        self.events.append("run")
        self.state = self.load_state()
        self.events.append("loaded")
        super().run()
        self.state["runs"] += 1
        self.save_state(self.state)
        self.events.append("saved")

    def start_publishing(self):
        self.events.append("start_publishing")
        super().start_publishing()

    def after_completed_publishing(self):
        self.events.append("after_completed_publishing")


def make_stateful(cls, tmp_path: Path, state_dir: Path):
    collector = make(cls, tmp_path, f"[stateful]\nstate_dir = {state_dir}\n")
    collector.events = []
    return collector


def test_returning_without_inner_stop_is_a_clear_error_and_the_state_is_not_saved(
    tmp_path, state_dir
):
    with make_stateful(Stateful, tmp_path, state_dir) as collector:
        collector.run_collection()
    saved = collector.state_file_path.read_bytes()

    class Forgetful(Stateful):
        def start_publishing(self):
            self.publish_output(*self.get_output_components(body="x"))

    with make_stateful(Forgetful, tmp_path, state_dir) as collector:
        with pytest.raises(RuntimeError, match=r"returned without calling self.inner_stop\(\)"):
            collector.run_collection()
        assert collector.state_saved is False
    assert collector.state_file_path.read_bytes() == saved
    assert len(outbox(tmp_path)) == 1  # the first run's message only


@pytest.mark.parametrize("when", ["before more publishing", "before inner_stop returns"])
def test_stop_ends_the_run_with_collector_stopped(tmp_path, state_dir, when):
    class Stopped(Stateful):
        def start_publishing(self):
            self.publish_output(*self.get_output_components(body="published, unconfirmed"))
            self.stop()  # what a signal handler would do
            if when == "before more publishing":
                self.publish_output(*self.get_output_components(body="never"))
            self.inner_stop()

    with make_stateful(Stopped, tmp_path, state_dir) as collector:
        with pytest.raises(CollectorStopped) as caught:
            collector.run_collection()
        assert collector.events == ["run", "loaded"]
    assert caught.value.exit_status == ExitStatus.INTERRUPTED
    assert not collector.state_file_path.exists()
    assert outbox(tmp_path) == []  # never confirmed, so never written


def test_run_collection_takes_the_state_lock_before_run(tmp_path, state_dir):
    seen = []

    class LockChecking(Stateful):
        def run(self):
            # Before load_state: the lock must already be held by run_collection().
            lock = SingleInstanceLock(Path(str(self.state_file_path) + ".lock"))
            try:
                lock.acquire()
                seen.append("free")
                lock.release()
            except AlreadyRunningError:
                seen.append("held")
            super().run()

    with make_stateful(LockChecking, tmp_path, state_dir) as collector:
        collector.run_collection()
        with make_stateful(LockChecking, tmp_path, state_dir) as second:
            with pytest.raises(AlreadyRunningError, match="LockChecking is already running"):
                second.run_collection()
            assert second.events == []
    assert seen == ["held"]
    with SingleInstanceLock(Path(str(collector.state_file_path) + ".lock")):
        pass  # released by close()


def test_after_completed_publishing_runs_last_and_only_after_success(tmp_path, state_dir):
    class Checking(Stateful):
        def after_completed_publishing(self):
            super().after_completed_publishing()
            # By now the message is confirmed (in the file) and the state saved.
            self.events.append(("outbox", len(read_outbox(tmp_path / "out.jsonl"))))
            self.events.append(("state on disk", self.state_file_path.exists()))

    with make_stateful(Checking, tmp_path, state_dir) as collector:
        collector.run_collection()
    assert collector.events == [
        "run",
        "loaded",
        "start_publishing",
        "saved",
        "after_completed_publishing",
        ("outbox", 1),
        ("state on disk", True),
    ]

    class Failing(Checking):
        def start_publishing(self):
            raise OSError("source down")

    with make_stateful(Failing, tmp_path, state_dir) as collector:
        with pytest.raises(OSError, match="source down"):
            collector.run_collection()
    assert "after_completed_publishing" not in collector.events


# ---------------------------------------------------------------- exchanges


class TwoExchanges(OneShot):
    output_queue = [
        {"exchange": "raw", "exchange_type": "topic"},
        {"exchange": "audit", "exchange_type": "fanout"},
    ]

    def start_publishing(self):
        self.publish_output("to.default", "a")
        self.publish_output("to.audit", "b", exchange="audit")
        self.publish_output("to.raw", "c", {"type": "stream"}, exchange="raw")
        self.inner_stop()


def test_several_exchanges_and_the_exchange_argument(tmp_path):
    with make(TwoExchanges, tmp_path) as collector:
        collector.run_collection()
    assert [(m.exchange, m.routing_key, m.body) for m in outbox(tmp_path)] == [
        ("raw", "to.default", b"a"),
        ("audit", "to.audit", b"b"),
        ("raw", "to.raw", b"c"),
    ]
    assert collector.published_count == 3


def test_an_undeclared_exchange_fails_the_run(tmp_path):
    class Undeclared(OneShot):
        def start_publishing(self):
            self.publish_output("rk", "a")
            self.publish_output("rk", "b", exchange="nowhere")
            self.inner_stop()

    with make(Undeclared, tmp_path) as collector:
        with pytest.raises(PublishError, match="exchange 'nowhere' was not declared"):
            collector.run_collection()
    assert outbox(tmp_path) == []


@pytest.mark.parametrize(
    "output_queue",
    [
        [],
        [{"name": "raw"}],
        {"exchange": "raw", "x": 1},
        {"exchange": ""},
        {"exchange": "raw", "exchange_type": "topik"},
    ],
)
def test_a_malformed_output_queue_is_refused(tmp_path, output_queue):
    class Malformed(OneShot):
        pass

    Malformed.output_queue = output_queue
    with pytest.raises(TypeError, match="output_queue"):
        make(Malformed, tmp_path)


def test_the_default_output_queue_is_the_raw_topic_exchange(tmp_path):
    with make(OneShot, tmp_path) as collector:
        collector.run_collection()
    (message,) = outbox(tmp_path)
    assert (message.exchange, message.routing_key) == ("raw", "one-shot.chan")
    assert json.loads((tmp_path / "out.jsonl").read_text())["exchange"] == "raw"
