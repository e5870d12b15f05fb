"""The JSON Lines outbox: its format, its durability promise, and sharing one file."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stateful_collectors.config import ConfigSource
from stateful_collectors.errors import ConfigError, PublishError, StateFileError
from stateful_collectors.sinks import OUTBOX_ENV_VAR, Exchange, sink_from_config
from stateful_collectors.sinks.outbox import OutboxSink, default_outbox_path, read_outbox


def publish(path: Path, *messages: tuple[str, bytes], props: dict | None = None) -> None:
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    try:
        for routing_key, body in messages:
            sink.publish("raw", routing_key, body, props or {"message_id": routing_key})
        sink.confirm_all()
    finally:
        sink.close()


def test_one_message_is_one_json_line(tmp_path):
    path = tmp_path / "out.jsonl"
    publish(path, ("a.b", "zażółć {json}".encode()), props={"message_id": "m1", "type": "stream"})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == {
        "body": "zażółć {json}",
        "body_encoding": "utf-8",
        "exchange": "raw",
        "properties": {"message_id": "m1", "type": "stream"},
        "routing_key": "a.b",
    }
    assert "zażółć" in text  # readable text, not \\u escapes
    assert list(json.loads(text)) == sorted(json.loads(text))  # stable key order


def test_a_body_that_is_not_utf8_is_stored_as_base64(tmp_path):
    path = tmp_path / "out.jsonl"
    body = bytes(range(256))
    publish(path, ("bin", body), ("text", b"plain"))
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["body_encoding"] == "base64"
    assert base64.b64decode(first["body"]) == body
    assert second["body_encoding"] == "utf-8"
    assert [m.body for m in read_outbox(path)] == [body, b"plain"]


def test_the_file_and_its_directory_are_private(tmp_path):
    path = tmp_path / "new" / "dir" / "out.jsonl"
    publish(path, ("a", b"x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_nothing_reaches_the_file_before_confirm_all_and_close_drops_the_rest(tmp_path):
    path = tmp_path / "out.jsonl"
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    sink.publish("raw", "a", b"small", {})
    assert path.read_bytes() == b""  # batched in memory: not confirmed, not claimed
    sink.close()
    assert read_outbox(path) == []


def test_big_batches_are_written_early_and_in_order(tmp_path):
    path = tmp_path / "out.jsonl"
    bodies = [f"{i:06d}".encode() * 40_000 for i in range(8)]  # 240 KB each, > 1 MiB in all
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    for i, body in enumerate(bodies):
        sink.publish("raw", str(i), body, {})
    assert path.stat().st_size > 0  # the 1 MiB batch was written before any confirm
    sink.confirm_all()
    sink.close()
    assert [m.body for m in read_outbox(path)] == bodies


def test_confirm_all_fsyncs_after_the_last_write(tmp_path, monkeypatch):
    """A spy on os.write/os.fsync (they pass through): the order is write..., fsync, return."""
    path = tmp_path / "out.jsonl"
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    fd = sink._fd
    calls = []
    real_write, real_fsync = os.write, os.fsync

    def spy_write(target, data):
        if target == fd:
            calls.append("write")
        return real_write(target, data)

    def spy_fsync(target):
        if target == fd:
            calls.append("fsync")
        return real_fsync(target)

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    sink.publish("raw", "a", b"1", {})
    sink.publish("raw", "b", b"2", {})
    assert calls == []
    sink.confirm_all()
    calls.append("confirmed")
    sink.confirm_all()  # nothing new: no second fsync
    sink.close()
    assert calls == ["write", "fsync", "confirmed"]


def test_a_failing_fsync_means_not_confirmed(tmp_path, monkeypatch):
    """EIO from fsync cannot be produced on a healthy disk, so it is injected here."""
    path = tmp_path / "out.jsonl"
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    sink.publish("raw", "a", b"1", {})

    def failing_fsync(target):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(PublishError, match=r"out.jsonl could not be synced .*not confirmed"):
        sink.confirm_all()
    sink.close()


def test_an_outbox_that_is_not_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "out.jsonl").mkdir()
    sink = OutboxSink(tmp_path / "out.jsonl")
    with pytest.raises(StateFileError) as raised:
        sink.open([Exchange("raw")])
    assert str(raised.value) == (
        f"outbox {tmp_path / 'out.jsonl'} is not a regular file; point [outbox] path "
        "(or $STATEFUL_COLLECTORS_OUTBOX) at a file of your own"
    )


def test_publish_before_open_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="before open"):
        OutboxSink(tmp_path / "out.jsonl").publish("raw", "a", b"", {})


# ---------------------------------------------------------------- crashes and sharing


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_append_starts_fresh(tmp_path, caplog):
    path = tmp_path / "out.jsonl"
    publish(path, ("before", b"whole"))
    whole_line = path.read_bytes()
    with open(path, "ab") as file:  # a crash in the middle of a write leaves half a line
        file.write(whole_line[: len(whole_line) // 2])
    publish(path, ("after", b"also whole"))

    lines = path.read_bytes().split(b"\n")
    assert lines[1] == whole_line[: len(whole_line) // 2]  # the damaged line, kept as it was
    assert json.loads(lines[2])["routing_key"] == "after"  # began on a line of its own
    with caplog.at_level(logging.WARNING):
        messages = read_outbox(path)
    assert [m.routing_key for m in messages] == ["before", "after"]
    assert "line 2 is damaged" in caplog.text


_WRITER = textwrap.dedent(
    """
    import sys
    from stateful_collectors.sinks import Exchange
    from stateful_collectors.sinks.outbox import OutboxSink

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sink = OutboxSink(path)
    sink.open([Exchange("raw")])
    for i in range(count):
        body = f"{name}:{i}:".encode() + b"x" * (1000 + 7919 * i % 60000)
        sink.publish("raw", name, body, {"message_id": f"{name}-{i}"})
        if i % 5 == 4:
            sink.confirm_all()
    sink.confirm_all()
    sink.close()
    """
)


def test_several_processes_append_whole_lines(tmp_path, caplog):
    path = tmp_path / "shared.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{n}", "120"])
        for n in range(4)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    with caplog.at_level(logging.WARNING):
        messages = read_outbox(path)
    assert caplog.text == ""  # no damaged line
    assert len(path.read_bytes().splitlines()) == 480
    for n in range(4):
        mine = [m for m in messages if m.routing_key == f"w{n}"]
        assert [m.properties["message_id"] for m in mine] == [f"w{n}-{i}" for i in range(120)]
        assert all(m.body.startswith(f"w{n}:{i}:".encode()) for i, m in enumerate(mine))


# ---------------------------------------------------------------- where the file is


def test_the_configured_path_is_used_with_tilde_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    source = ConfigSource.from_text("[outbox]\npath = ~/collected/out.jsonl\n")
    sink = OutboxSink.from_config(source, env={})
    assert sink.path == tmp_path / "collected" / "out.jsonl"
    assert sink.description == f"outbox {tmp_path}/collected/out.jsonl"


def test_the_environment_overrides_the_configured_path(tmp_path):
    source = ConfigSource.from_text("[outbox]\npath = /configured/out.jsonl\n")
    sink = OutboxSink.from_config(source, env={OUTBOX_ENV_VAR: str(tmp_path / "env.jsonl")})
    assert sink.path == tmp_path / "env.jsonl"


def test_the_default_path_follows_xdg_data_home(tmp_path, monkeypatch):
    source = ConfigSource.from_text("[my_collector]\n")
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    expected = tmp_path / "data" / "stateful-collectors" / "outbox.jsonl"
    assert OutboxSink.from_config(source, env=env).path == expected
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_outbox_path({}) == tmp_path / ".local/share/stateful-collectors/outbox.jsonl"


def test_sink_from_config_picks_the_outbox_without_a_broker(tmp_path):
    source = ConfigSource.from_text(f"[outbox]\npath = {tmp_path}/o.jsonl\n")
    sink = sink_from_config(source, env={})
    assert isinstance(sink, OutboxSink) and sink.path == tmp_path / "o.jsonl"


def test_an_unknown_outbox_option_is_a_config_error():
    source = ConfigSource.from_text("[outbox]\npaht = /x\n")
    with pytest.raises(
        ConfigError, match=r"\[outbox\] unknown option 'paht' \(did you mean 'path'"
    ):
        OutboxSink.from_config(source, env={})
