"""A collector killed between the broker's last confirm and `save_state()`.

This is the one crash that at-least-once delivery exists for: every message is
in the broker, yet the state never advanced. The next run must publish the same
messages again, with the same message ids, so consumers can drop the repeats.
The collector is a real process; its `save_state()` first touches a file and
sleeps, and the test SIGKILLs it there.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.support.probe import Probe
from tests.support.processes import wait_for_file

pytestmark = pytest.mark.broker


def test_sigkill_after_the_last_confirm_republishes_the_same_message_ids(
    probe: Probe, bound_queue, tmp_path
):
    queue = bound_queue(probe.routing_key)
    saved = probe.save_state({"next": 10})
    stopped_at_save = tmp_path / "stopped-before-save"

    process = probe.start(probe.config(count=4, stop_before_save_file=stopped_at_save))
    try:
        wait_for_file(stopped_at_save, process)
        first = probe.broker.drain(queue, expect=4)  # confirmed, so already in the queue
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    assert probe.state_path.read_bytes() == saved
    assert [json.loads(message.body)["n"] for message in first] == [10, 11, 12, 13]

    again = probe.run(probe.config(count=4))

    assert again.returncode == 0, again.stderr  # the killed holder left no stale lock
    second = probe.broker.drain(queue)
    assert [message.body for message in second] == [message.body for message in first]
    assert [m.properties.message_id for m in second] == [m.properties.message_id for m in first]
    assert probe.load_state() == {"next": 14}
