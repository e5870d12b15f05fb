"""examples/checkpoint_collector.py: one message per item, a checkpoint every few items.

A failed run resumes from its last checkpoint; `checkpoint_every` must be
positive; the program runs twice as a real process. (Killed at random points
against a real RabbitMQ, 100 times: tests/reliability/test_checkpoint_kills.py.)
"""

from __future__ import annotations

import json

import pytest
from checkpoint_collector import CheckpointCollector

from stateful_collectors.errors import ConfigError
from stateful_collectors.sinks.outbox import read_outbox
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config
from tests.support import EXAMPLES
from tests.support.processes import run_example


class CrashesAfterSeven(CheckpointCollector):
    """Fails right after publishing its 7th item (an exception standing in for a crash)."""

    def publish_output(self, *args, **kwargs):
        super().publish_output(*args, **kwargs)
        if self.published_count == 7:
            raise RuntimeError("crash after the 7th item")


def ids_in(messages) -> list[int]:
    return [json.loads(message.body)["id"] for message in messages]


def test_a_failed_run_resumes_from_its_last_checkpoint(feed_server, state_dir, tmp_path):
    feed_server.feed.add(5)  # items 1..10
    config = make_config(
        "checkpoint_collector",
        state_dir=state_dir,
        url=f"{feed_server.url}/items.json",
        checkpoint_every=3,
    )
    outbox = tmp_path / "outbox.jsonl"
    with pytest.raises(RuntimeError, match="crash after the 7th item"):
        collect(CrashesAfterSeven, config, outbox=outbox)
    # The checkpoint after item 6 confirmed items 1..6 (the outbox fsynced them) and
    # saved the state; item 7 was never confirmed.
    assert ids_in(read_outbox(outbox)) == [1, 2, 3, 4, 5, 6]
    (state_file,) = state_dir.glob("*.CrashesAfterSeven.pickle")
    assert StateFile(state_file).load(default=dict)["last_id"] == 6

    resumed = collect(CrashesAfterSeven, config, outbox=outbox)
    assert ids_in(resumed.messages) == [7, 8, 9, 10]
    assert resumed.state == {"last_time": "2026-11-27T20:09:00Z", "last_id": 10}


def test_checkpoint_every_must_be_positive(feed_server, state_dir):
    config = make_config(
        "checkpoint_collector", state_dir=state_dir, url=feed_server.url, checkpoint_every=0
    )
    with pytest.raises(ConfigError) as caught:
        CheckpointCollector(config_text=config)
    assert str(caught.value) == (
        "<config text>: [checkpoint_collector] option 'checkpoint_every' = '0': "
        "the value must be a whole number of 1 or more, e.g. 100"
    )


def test_the_example_runs_twice_as_a_real_process(feed_server, state_dir, tmp_path):
    config_file = tmp_path / "checkpoint.conf"
    config_file.write_text(
        make_config(
            "checkpoint_collector",
            state_dir=state_dir,
            url=f"{feed_server.url}/items.json",
            checkpoint_every=2,
        )
    )
    outbox = tmp_path / "outbox.jsonl"
    program = EXAMPLES / "checkpoint_collector.py"

    first = run_example(program, config_file, outbox)
    assert first.returncode == 0, first.stderr
    assert "ok: published 5 message(s)" in first.stderr
    feed_server.feed.add(3)
    second = run_example(program, config_file, outbox)
    assert second.returncode == 0, second.stderr
    assert "ok: published 3 message(s)" in second.stderr

    messages = read_outbox(outbox)
    assert ids_in(messages) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert {m.routing_key for m in messages} == {"checkpoint-collector.items"}
    state_file = state_dir / "checkpoint_collector.CheckpointCollector.pickle"
    assert StateFile(state_file).load(default=dict) == {
        "last_time": "2026-11-27T20:07:00Z",
        "last_id": 8,
    }
