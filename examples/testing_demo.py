"""Tests of MyStatefullCollector, written with the package's testing helpers.

Each test gets its own demo feed, served on a free port, and its own empty
state directory; the collector publishes into a temporary outbox. Run them with

    python -m pytest testing_demo.py

(pytest collects only files named test_*.py by itself; naming the file runs it.)
"""

import pytest
from my_statefull_collector import MyStatefullCollector

from stateful_collectors.collectors.base import message_id_for
from stateful_collectors.demo import DemoFeed
from stateful_collectors.errors import ConfigError, DownloadError, StateFileError
from stateful_collectors.state import StateFile
from stateful_collectors.testing import collect, make_config


@pytest.fixture
def feed():
    """A demo feed with three items, served while the test runs."""
    with DemoFeed(history=3, start="2026-11-27T20:00:00Z").serve() as server:
        yield server


@pytest.fixture
def config(tmp_path, feed):
    """The collector's config: a fresh state dir, and the feed's address."""
    return make_config(
        "my_statefull_collector",
        state_dir=tmp_path / "state",
        url=f"{feed.url}/items.json",
    )


def item_ids(run):
    """The feed item ids in each message the run published."""
    return [[item["id"] for item in body] for body in run.json_bodies()]


def test_the_first_run_publishes_the_whole_feed(config, caplog):
    run = collect(MyStatefullCollector, config)

    assert item_ids(run) == [[1, 2, 3]]
    assert run.state == {"last_utc": "2026-11-27T20:02:00Z"}
    assert "not found; starting from the default state" in caplog.text
    (message,) = run.messages
    assert message.exchange == "raw"
    assert message.routing_key == "my-statefull-collector.example-channel"
    assert message.properties["type"] == "stream"
    assert message.properties["message_id"] == message_id_for(
        message.routing_key, message.body
    )


def test_the_next_run_publishes_only_new_items(config, feed):
    collect(MyStatefullCollector, config)
    feed.feed.add(2)

    run = collect(MyStatefullCollector, config)

    assert item_ids(run) == [[4, 5]]
    assert run.state == {"last_utc": "2026-11-27T20:04:00Z"}


def test_a_run_with_nothing_new_keeps_the_state(config):
    first = collect(MyStatefullCollector, config)

    run = collect(MyStatefullCollector, config)

    assert item_ids(run) == [[]]  # n6's example collector publishes one message per run
    assert run.state == first.state


def test_a_failing_source_leaves_the_state_as_it_was(config, feed):
    first = collect(MyStatefullCollector, config)
    saved = first.state_file.read_bytes()
    feed.feed.add(2)
    feed.close()  # the source goes away

    with pytest.raises(DownloadError, match="cannot download"):
        collect(MyStatefullCollector, config)

    assert first.state_file.read_bytes() == saved


def test_a_damaged_state_file_is_refused_and_left_alone(config):
    first = collect(MyStatefullCollector, config)
    first.state_file.write_bytes(b"garbage")

    with pytest.raises(StateFileError, match="cannot be decoded as pickle"):
        collect(MyStatefullCollector, config)

    assert first.state_file.read_bytes() == b"garbage"


def test_the_run_starts_from_a_state_the_test_chose(config, tmp_path):
    state_file = (
        tmp_path / "state" / "my_statefull_collector.MyStatefullCollector.pickle"
    )
    StateFile(state_file).save({"last_utc": "2026-11-27T20:01:00Z"})

    run = collect(MyStatefullCollector, config)

    assert item_ids(run) == [[3]]


def test_a_missing_option_is_a_config_error(tmp_path):
    config = make_config("my_statefull_collector", state_dir=tmp_path / "state")

    with pytest.raises(ConfigError, match="option 'url' is required"):
        collect(MyStatefullCollector, config)


def test_the_command_prints_one_line_and_exits_0(config, tmp_path, capsys):
    config_file = tmp_path / "collector.conf"
    config_file.write_text(config + f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n")

    status = MyStatefullCollector.cli_main(["--config", str(config_file)])

    assert status == 0
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.startswith("MyStatefullCollector: ok: published 1 message(s)")
    assert summary.endswith("my_statefull_collector.MyStatefullCollector.pickle")
