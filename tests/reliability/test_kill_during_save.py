"""SIGKILL at random points of `save_state`, 500 times: each load gives the old or the new state.

Each round forks a child of the test process that really calls
`StatefulCollectorMixin.save_state` with a new state, and the parent sends it
SIGKILL after a random delay, drawn uniformly from 0 to a *spread* that covers
the whole save, so the kills land everywhere in it (while pickling, writing,
fsyncing, renaming) and a few after it. The spread starts at the median
duration of a save, measured on the same directory in forked children (where
the kills happen: a child's first save pays for copy-on-write page faults),
and then follows the machine's load: it shrinks a little whenever a save
finished before its kill and grows a little whenever it did not, which keeps
about a fifth of the saves finishing first, so the spread just covers a save.
After every round the parent loads the state with the real
`load_state()`: it must be the state before the round or the round's new one,
whole (the payload is derived from the sequence number, so a mix of two
states is caught), never an error.

A killed save may leave its temporary file (`.NAME.xxxxxxxx.tmp`) behind: the
kernel does not run the `except` clause of a killed process. The next save,
which holds the lock, removes them: the test counts the kills that left one,
checks that none ever broke a load, and that after the last kill one clean
save leaves none.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import statistics
import struct
import threading
import time

import pytest

from tests.support.collectors.keeps_state import make_keeps_state
from tests.support.reliability import temp_files

KILLS_WANTED = 500
MAX_ROUNDS = 5 * KILLS_WANTED  # a bound, in case most saves finish before their kill
SHRINK, GROW = 0.98, 1.005  # 0.2 * ln(0.98) + 0.8 * ln(1.005) is about 0
PAYLOAD_BLOCKS = 1024  # 1024 x 64 bytes: a 64 KiB payload, a few writes' worth


def state_for(seq: int) -> dict:
    """The state of round `seq`: its payload is derived from `seq`, so a mix is detectable."""
    block = hashlib.blake2b(seq.to_bytes(8, "big")).digest()
    return {"seq": seq, "payload": block * PAYLOAD_BLOCKS}


def median_save_seconds_in_child(collector, rounds: int = 21) -> float:
    """How long `save_state` takes in a freshly forked child (slower than in the parent).

    A forked child first pays for copy-on-write page faults, so its save is
    timed where the kills will happen: in children, by the children themselves.
    """
    durations = []
    for seq in range(rounds):
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(result_r)
                started = time.perf_counter()
                collector.save_state(state_for(seq))
                os.write(result_w, struct.pack("d", time.perf_counter() - started))
                status = 0
            finally:
                os._exit(status)
        os.close(result_w)
        try:
            (seconds,) = struct.unpack("d", os.read(result_r, 8))
        finally:
            os.close(result_r)
            os.waitpid(pid, 0)
        durations.append(seconds)
    return statistics.median(durations)


def wait_until(deadline: float) -> None:
    """Busy-wait: `time.sleep` cannot wait a tenth of a millisecond precisely."""
    while time.perf_counter() < deadline:
        pass


def save_in_child_and_kill(collector, new_state: dict, delay: float) -> str:
    """Fork a child that saves `new_state`; SIGKILL it `delay` s after it starts saving.

    Returns "killed", "finished" (the save ended before the kill) or "failed".
    """
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: save, then leave without running any of pytest's cleanup
        status = 1
        try:
            os.close(ready_r)
            os.write(ready_w, b"!")
            collector.save_state(new_state)
            status = 0
        finally:
            os._exit(status)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"!"
        wait_until(time.perf_counter() + delay)
        os.kill(pid, signal.SIGKILL)
    finally:
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "finished"
    return "failed"


@pytest.mark.slow
def test_sigkill_at_random_points_of_save_state(state_dir, summary):
    # A fork copies only the calling thread, with any lock another thread held: start alone.
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    assert not others, f"threads left running by earlier tests: {others}"
    collector = make_keeps_state(state_dir)
    collector.load_state()  # takes the single-instance lock; the children inherit it
    save_seconds = median_save_seconds_in_child(collector)
    spread = save_seconds
    current = 1
    collector.save_state(state_for(current))

    rng = random.Random(20261127)
    counts = dict.fromkeys(["kills", "loads", "old", "new", "finished", "errors"], 0)
    left_a_temp_file = 0  # kills after which a temporary file was left behind
    most_leftovers = 0
    problems: list[str] = []
    for round_number in range(MAX_ROUNDS):
        if counts["kills"] >= KILLS_WANTED:
            break
        new = current + 1 + round_number  # every round saves a state never seen before
        outcome = save_in_child_and_kill(collector, state_for(new), rng.uniform(0, spread))
        assert outcome != "failed", "the child's save_state raised"
        # a staircase: the spread settles where about 20% of the saves finish before the kill
        spread *= SHRINK if outcome == "finished" else GROW
        leftovers = temp_files(state_dir)
        most_leftovers = max(most_leftovers, len(leftovers))
        if outcome == "killed" and leftovers:
            left_a_temp_file += 1

        counts["loads"] += 1
        try:
            loaded = collector.load_state()
        except Exception as exc:  # any error is what this test is here to catch
            counts["errors"] += 1
            problems.append(f"round {round_number}: {type(exc).__name__}: {exc}")
            continue
        if loaded != state_for(loaded.get("seq", -1)):
            counts["errors"] += 1
            problems.append(f"round {round_number}: a torn state (seq {loaded.get('seq')})")
            continue
        if outcome == "finished":
            counts["finished"] += 1
            if loaded["seq"] != new:
                counts["errors"] += 1
                problems.append(f"round {round_number}: a finished save, but seq {loaded['seq']}")
            current = loaded["seq"]
            continue
        counts["kills"] += 1
        if loaded["seq"] == current:
            counts["old"] += 1
        elif loaded["seq"] == new:
            counts["new"] += 1
            current = new
        else:
            counts["errors"] += 1
            problems.append(f"round {round_number}: seq {loaded['seq']}, not {current} or {new}")
        pattern = re.compile(
            rf"^\.{re.escape(collector.state_file_path.name)}\.[0-9a-f]{{8}}\.tmp$"
        )
        assert all(pattern.match(leftover) for leftover in leftovers), leftovers

    after_the_kills = len(temp_files(state_dir))
    # One clean save by the next run (a new process's collector, as after a real kill):
    # holding the lock, its first save removes what the killed saves left.
    collector.close()
    collector = make_keeps_state(state_dir)
    collector.save_state(state_for(current + MAX_ROUNDS + 1))
    after_a_clean_save = temp_files(state_dir)
    summary(
        f"kills: {counts['kills']}, loads: {counts['loads']}, old: {counts['old']}, "
        f"new: {counts['new']}, errors: {counts['errors']}, "
        f"kills that left a temp file: {left_a_temp_file} (none broke a load; at most "
        f"{most_leftovers} at once), temp files after the last kill: {after_the_kills}, "
        f"after one clean save: {len(after_a_clean_save)}, "
        f"saves finished before the kill: {counts['finished']}, "
        f"median save: {save_seconds * 1000:.2f} ms, kill delays up to: {spread * 1000:.2f} ms"
    )
    assert problems == []
    assert counts["kills"] >= KILLS_WANTED
    # the kills really landed inside saves: mid-write (a temp file left), before and after
    # the rename
    assert counts["old"] > 0 and counts["new"] > 0 and left_a_temp_file > 0
    # the next save, holding the lock, removes what killed saves left behind
    assert after_a_clean_save == []
    collector.close()
