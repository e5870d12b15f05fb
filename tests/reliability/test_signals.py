"""SIGTERM, SIGINT and SIGHUP at random moments of real runs and of the `state` commands.

Each round starts a real process of the `stateful-collectors` command: a run
of the complete example against a real demo feed (which has a new item every
round, so the run has something to publish and a new state to save), or
`state set`, or `state show`. It waits until the process handles signals
(its `SigCgt` mask in /proc shows SIGTERM and SIGHUP caught: the command's
first lines have run; before that the interpreter itself is starting and a
signal has its default effect, which no Python code can change), then sends
one of the three signals after a random delay, drawn uniformly over the rest
of such a process's life (measured first, on unsignalled rounds), so the
signals land everywhere: in the imports of the library and of the collector,
while reading the config, taking the lock, fetching, publishing, saving,
printing the summary, and after the end.

Every round must end with one line on stderr, never a traceback, and an exit
status that agrees with it: 130 and "interrupted" (the run stopped), or the
status of a run that had already decided its outcome when the signal came
(0, "ok"). The state file must load and be whole: the state before the round
or the new one, the new one exactly when the line says it was saved; no
temporary file or backup may be left behind.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from stateful_collectors.demo import DemoFeed
from tests.support import EXAMPLES, clean_env
from tests.support.processes import CLI, run_cli

SIGNALS_WANTED = 60
ROUNDS = {"run": 90, "state set": 30, "state show": 30}
SIGNAL_CYCLE = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
TARGET = f"{EXAMPLES}/my_statefull_collector.py:MyStatefullCollector"
STATE_NAME = "my_statefull_collector.MyStatefullCollector.pickle"


def handles_signals(pid: int) -> bool:
    """Whether the process has its own handlers for SIGTERM and SIGHUP (from /proc)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    mask = int(line.split()[1], 16)
                    return all(mask & (1 << (sig - 1)) for sig in (signal.SIGTERM, signal.SIGHUP))
    except FileNotFoundError:
        pass
    return False


class World:
    """The files of the rounds: config, state dir, outbox; and the command lines."""

    def __init__(self, root: Path, feed_url: str) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.state_file = self.state_dir / STATE_NAME
        self.config = root / "collector.conf"
        self.config.write_text(
            f"[my_statefull_collector]\nstate_dir = {self.state_dir}\n"
            f"url = {feed_url}/items.json\n[outbox]\npath = {root / 'outbox.jsonl'}\n"
        )
        self.env = clean_env()

    def argv(self, kind: str, value: str) -> list[str]:
        common = [TARGET, "--config", str(self.config)]
        if kind == "run":
            return [*CLI, "run", *common]
        if kind == "state set":
            state = json.dumps({"last_utc": value})
            return [*CLI, "state", "set", *common[:1], state, *common[1:]]
        return [*CLI, "state", "show", *common]

    def state(self) -> dict:
        with open(self.state_file, "rb") as file:
            return pickle.load(file)

    def leftovers(self) -> list[str]:
        """Temporary files and probes (a save or a check cut short would leave them)."""
        return sorted(
            name for name in os.listdir(self.state_dir) if name.endswith((".tmp", ".probe"))
        )

    def backups(self) -> int:
        return sum(name.endswith(".bak") for name in os.listdir(self.state_dir))


def start(world: World, kind: str, value: str) -> tuple[subprocess.Popen, float]:
    """Start a round's process; return it and when it started handling signals."""
    process = subprocess.Popen(
        world.argv(kind, value),
        cwd=world.root,
        env=world.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not handles_signals(process.pid):
        if process.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.0005)
    return process, time.monotonic()


def judge(world: World, kind: str, value: str, before: tuple, result) -> list[str]:
    """What is wrong with a round's outcome (nothing, when all is well)."""
    before, backups = before
    returncode, stdout, stderr = result
    problems = []
    if "Traceback" in stderr:
        problems.append("traceback")
    lines = stderr.splitlines()
    if returncode not in (0, 130):
        problems.append(f"wrong status {returncode}")
    interrupted = returncode == 130
    try:
        state = world.state()
    except Exception as exc:  # a state that does not load is what this test catches
        return [*problems, f"torn state: {type(exc).__name__}: {exc}"]
    if kind == "run":
        expected_new = {"last_utc": value}
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr")
        line = lines[-1] if lines else ""
        if interrupted != ("interrupted" in line) or (not interrupted and ": ok: " not in line):
            problems.append(f"wrong status {returncode} for the line {line!r}")
        saved = "state saved to" in line
        if state != (expected_new if saved else before):
            problems.append(f"torn state: {state} after {line!r}")
    else:
        if interrupted:  # while the command line was read, or once the command had started
            if stderr not in (
                "stateful-collectors: interrupted\n",
                "stateful-collectors state: interrupted\n",
            ):
                problems.append(f"wrong status {returncode} for {stderr!r}")
        elif stderr.strip() and kind == "state set":
            problems.append(f"stderr {stderr!r}")
        expected = {"last_utc": value} if kind == "state set" and not interrupted else before
        if state != expected:
            problems.append(f"torn state: {state}, expected {expected}")
        if interrupted and world.backups() != backups:
            problems.append("an interrupted state set left a backup: it changed something")
    if world.leftovers():
        problems.append(f"left behind: {world.leftovers()}")
    return problems


@pytest.mark.slow
def test_signals_at_random_moments_give_one_line_and_the_right_status(tmp_path, summary):
    feed = DemoFeed(history=3, start="2026-11-27T20:00:00Z")
    rng = random.Random(20261127)
    with feed.serve() as server:
        world = World(tmp_path, server.url)
        first = subprocess.run(
            world.argv("run", ""), cwd=tmp_path, env=world.env, capture_output=True, text=True
        )
        assert first.returncode == 0, first.stderr

        # how long each kind of process lives once it handles signals: the span of the delays
        spans = {}
        for kind in ROUNDS:
            lives = []
            for _ in range(3):
                feed.add(1)
                value = feed.items()[-1]["time"]
                process, handling = start(world, kind, value)
                process.communicate(timeout=60)
                assert process.returncode == 0, (kind, process.returncode)
                lives.append(time.monotonic() - handling)
            spans[kind] = statistics.median(lives)

        plan = [kind for kind, count in ROUNDS.items() for _ in range(count)]
        rng.shuffle(plan)
        counts = dict.fromkeys(["signals", "tracebacks", "wrong", "torn", "interrupted"], 0)
        by_signal = dict.fromkeys(SIGNAL_CYCLE, 0)
        problems = []
        for number, kind in enumerate(plan):
            before = (world.state(), world.backups())
            feed.add(1)
            value = feed.items()[-1]["time"]  # the run's new state, or the value state set sets
            signum = SIGNAL_CYCLE[number % len(SIGNAL_CYCLE)]
            process, handling = start(world, kind, value)
            time.sleep(rng.uniform(0, spans[kind]))
            fired = process.poll() is None  # still running (it may end before the signal lands)
            if fired:
                process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=60)
            if fired:
                counts["signals"] += 1
                by_signal[signum] += 1
            wrong = judge(world, kind, value, before, (process.returncode, stdout, stderr))
            counts["interrupted"] += process.returncode == 130
            counts["tracebacks"] += any(p == "traceback" for p in wrong)
            counts["wrong"] += any(p.startswith("wrong status") for p in wrong)
            counts["torn"] += any(p.startswith("torn state") for p in wrong)
            if wrong:
                name = signal.Signals(signum).name
                problems.append(f"round {number} ({kind}, {name}): {wrong}: {stderr!r}")

    summary(
        f"signals: {counts['signals']}, tracebacks: {counts['tracebacks']}, "
        f"wrong statuses: {counts['wrong']}, torn states: {counts['torn']} "
        f"(runs: {ROUNDS['run']}, state set: {ROUNDS['state set']}, state show: "
        f"{ROUNDS['state show']}; "
        + ", ".join(f"{signal.Signals(s).name}: {n}" for s, n in by_signal.items())
        + f"; interrupted, exit 130: {counts['interrupted']}, after the outcome was decided: "
        f"{counts['signals'] - counts['interrupted']})"
    )
    assert problems == [], "\n".join(problems)
    assert counts["signals"] >= SIGNALS_WANTED
    assert counts["interrupted"] >= SIGNALS_WANTED // 2  # most landed inside the processes


def test_a_signal_whose_exception_python_replaced_still_reports_interrupted(tmp_path):
    """A signal during the import, its exception replaced on the way out: still 130.

    CPython replaces a `KeyboardInterrupt` raised inside `from X import Y` with a
    `TypeError` ("expected a message argument") when the signal lands at the wrong
    step (the random rounds above met it once in a few hundred runs). The module
    below does the same thing on purpose: it takes the signal, and raises
    something else instead.
    """
    module = tmp_path / "replaced.py"
    module.write_text(
        "import os, signal\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "except KeyboardInterrupt:\n"
        "    raise TypeError('expected a message argument') from None\n"
    )
    run = run_cli("run", f"{module}:Collector", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (130, "stateful-collectors run: interrupted\n")
