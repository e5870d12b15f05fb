"""One run as a process: its deadline, its signals, and the line each outcome prints.

The deadline and the signals are real: `setitimer` in this process for the
in-process runs, real processes of the command for the others. Only one test
injects anything: to put a signal inside the few milliseconds of a save, it
sends the signal from the save's own `write` call (through the `fs._fs` seam
the disk-fault tests use); the random-signal test (tests/reliability) covers
the same ground without aiming.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

from stateful_collectors import fs as fs_module
from stateful_collectors.errors import DeadlineExceeded, ExitStatus, Interrupted
from stateful_collectors.runtime import interrupts
from stateful_collectors.runtime.runner import run_collector
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.collectors.cli import Counter
from tests.support.collectors.keeps_state import make_keeps_state

COUNTER = "tests.support.collectors.cli:Counter"
EXAMPLE = f"{EXAMPLES}/my_statefull_collector.py:MyStatefullCollector"


@pytest.fixture(autouse=True)
def leave_the_process_as_it_was():
    """Signal handlers, the timer and logging back as they were after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    before = {signum: signal.getsignal(signum) for signum in (*interrupts.SIGNALS, signal.SIGALRM)}
    yield
    interrupts.restore()
    for signum, handler in before.items():
        signal.signal(signum, handler)
    signal.setitimer(signal.ITIMER_REAL, 0)
    root.handlers[:] = handlers
    root.setLevel(level)


def counter_config(tmp_path: Path, mode: str = "ok", extra: str = "") -> Path:
    config = tmp_path / f"{mode}.conf"
    config.write_text(
        f"[counter]\nstate_dir = {tmp_path / 'state'}\nmode = {mode}\n"
        f"ready_file = {tmp_path / 'ready'}\n[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
        f"{extra}"
    )
    return config


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stateful_collectors", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------- the deadline


def test_the_deadline_ends_a_stuck_run_with_124_and_one_line(tmp_path, capsys):
    config = counter_config(tmp_path, "block")  # sits in start_publishing for 120 s
    started = time.monotonic()
    status = run_collector(Counter, config_file=str(config), deadline=1)
    elapsed = time.monotonic() - started
    line = capsys.readouterr().err.splitlines()[-1]
    assert status == ExitStatus.TIMED_OUT == 124
    assert elapsed < 30
    assert line == (
        f"Counter: deadline passed (1 s); 1 message(s) published to outbox "
        f"{tmp_path / 'outbox.jsonl'} before it stopped; state not saved (the next run starts "
        "from the previous state)"
    )
    assert not (tmp_path / "state" / "tests.support.collectors.cli.Counter.pickle").exists()


@pytest.mark.parametrize(
    ("how", "extra", "args"),
    [
        pytest.param("--deadline", "", ["--deadline", "1.5"], id="--deadline"),
        pytest.param("[run] deadline", "[run]\ndeadline = 1.5\n", [], id="[run] deadline"),
        pytest.param("both", "[run]\ndeadline = 600\n", ["--deadline", "1.5"], id="both"),
    ],
)
def test_the_deadline_comes_from_the_command_line_or_the_config(tmp_path, how, extra, args):
    config = counter_config(tmp_path, "block", extra)
    started = time.monotonic()
    result = cli("run", COUNTER, "--config", str(config), *args)
    assert time.monotonic() - started < 60
    assert result.returncode == ExitStatus.TIMED_OUT, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1:] == [
        f"Counter: deadline passed (1.5 s); 1 message(s) published to outbox "
        f"{tmp_path / 'outbox.jsonl'} before it stopped; state not saved (the next run starts "
        "from the previous state)"
    ]


def test_the_default_deadline_is_an_hour(tmp_path, capsys):
    """Armed from the start of the run: `remaining()` says so while the collector runs."""
    seen = []

    class Watching(Counter):
        def start_publishing(self):
            seen.append((interrupts.deadline_seconds(), interrupts.remaining()))
            super().start_publishing()

    Watching.__qualname__ = "Counter"
    assert run_collector(Watching, config_file=str(counter_config(tmp_path))) == 0
    ((seconds, left),) = seen
    assert seconds == 3600 and 3500 < left <= 3600
    assert interrupts.remaining() is None  # disarmed once the run is over


@pytest.mark.parametrize(
    ("args", "extra", "status", "expected"),
    [
        pytest.param(
            ["--deadline", "nan"],
            "",
            2,
            "stateful-collectors run: argument --deadline: 'nan' is not a number of seconds "
            "greater than 0; write e.g. 30 (see stateful-collectors run --help)",
            id="--deadline nan",
        ),
        pytest.param(
            ["--deadline", "0"],
            "",
            2,
            "stateful-collectors run: argument --deadline: '0' is not a number of seconds "
            "greater than 0; write e.g. 30 (see stateful-collectors run --help)",
            id="--deadline 0",
        ),
        pytest.param(
            [],
            "[run]\ndeadline = 10d\n",
            3,
            "Counter: {config}: [run] option 'deadline' = '10d': the value is not a number of "
            "seconds greater than 0; write e.g. 3600 (the default)",
            id="[run] deadline = 10d",
        ),
        pytest.param(
            [],
            "[run]\ndeadline = 1e300\n",
            3,
            "Counter: {config}: [run] option 'deadline' = '1e300': the value is more than a "
            "week (604800 s); a run should not need that long",
            id="[run] deadline = 1e300",
        ),
        pytest.param(
            [],
            "[run]\ntimeout = 10\n",
            3,
            "Counter: {config}: [run] unknown option 'timeout'; known options: deadline",
            id="[run] timeout",
        ),
    ],
)
def test_a_bad_deadline_is_a_usage_or_config_error(tmp_path, args, extra, status, expected):
    config = counter_config(tmp_path, "ok", extra)
    result = cli("run", COUNTER, "--config", str(config), *args)
    assert result.returncode == status
    assert result.stderr == expected.format(config=config) + "\n"
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------- signals


def test_a_signal_during_a_save_takes_effect_once_the_save_is_complete(tmp_path, monkeypatch):
    collector = make_keeps_state(tmp_path / "state")
    collector.save_state({"seq": 1, "payload": b"old"})

    class SignalledWhileWriting:  # the real OS calls, and a SIGTERM from inside the write
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            os.kill(os.getpid(), signal.SIGTERM)
            return os.write(fd, data)

    interrupts.install()
    monkeypatch.setattr(fs_module, "_fs", SignalledWhileWriting())
    with pytest.raises(Interrupted) as raised:
        collector.save_state({"seq": 2, "payload": b"new"})
    monkeypatch.undo()
    assert str(raised.value) == "SIGTERM"
    assert collector.state_saved
    assert collector.load_state() == {"seq": 2, "payload": b"new"}
    assert not [name for name in os.listdir(tmp_path / "state") if name.endswith(".tmp")]
    collector.close()


def test_a_run_interrupted_after_its_save_says_the_state_was_saved(tmp_path, capsys, monkeypatch):
    class SignalledWhileWriting:
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            os.kill(os.getpid(), signal.SIGHUP)
            return os.write(fd, data)

    monkeypatch.setattr(fs_module, "_fs", SignalledWhileWriting())
    status = run_collector(Counter, config_file=str(counter_config(tmp_path)))
    state_file = tmp_path / "state" / "tests.support.collectors.cli.Counter.pickle"
    assert status == ExitStatus.INTERRUPTED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"Counter: interrupted: 1 message(s) published to outbox {tmp_path / 'outbox.jsonl'} "
        f"before it stopped; state saved to {state_file}"
    )
    assert state_file.exists()


def start_blocked(tmp_path: Path, mode: str = "block") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "stateful_collectors", "run", COUNTER, "--config"]
        + [str(counter_config(tmp_path, mode))],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


def test_sighup_ends_a_run_like_sigterm(tmp_path):
    process = start_blocked(tmp_path)
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1:] == [
        f"Counter: interrupted: 1 message(s) published to outbox {tmp_path / 'outbox.jsonl'} "
        "before it stopped; state not saved (the next run starts from the previous state)"
    ]


def test_a_signal_that_the_collector_swallows_still_ends_the_run_with_130(tmp_path):
    """Its code caught the interruption and went on: the run says so, status 130."""
    process = start_blocked(tmp_path, "swallow")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    state_file = tmp_path / "state" / "tests.support.collectors.cli.Counter.pickle"
    assert process.returncode == 130
    assert stderr.splitlines()[-1] == (
        f"Counter: interrupted: 1 message(s) published to outbox {tmp_path / 'outbox.jsonl'} "
        f"before it stopped; state saved to {state_file}"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_collector_closes_after_its_save_changes_nothing(tmp_path, signum):
    """The run saved its state; a signal during `close()` keeps its status 0, and is named.

    The collector's `close()` waits for a file this test creates only once the
    signal was sent, so the signal lands there, after the save, for certain.
    """
    go = tmp_path / "go"
    config = counter_config(tmp_path, "slow-close")
    config.write_text(config.read_text().replace("[outbox]", f"go_file = {go}\n[outbox]"))
    process = subprocess.Popen(
        [sys.executable, "-m", "stateful_collectors", "run", COUNTER, "--config", str(config)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signum)
    time.sleep(0.2)  # let it land inside close()
    go.touch()
    _, stderr = process.communicate(timeout=60)
    state_file = tmp_path / "state" / "tests.support.collectors.cli.Counter.pickle"
    name = signal.Signals(signum).name
    assert "Traceback" not in stderr
    assert (process.returncode, stderr.splitlines()[-1]) == (
        0,
        f"Counter: ok: published 1 message(s) to outbox {tmp_path / 'outbox.jsonl'}; state "
        f"saved to {state_file}; {name} came after the save and changed nothing",
    )
    assert pickle.loads(state_file.read_bytes())["runs"] == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_imports_is_one_line_and_130(tmp_path, signum):
    """A collector module that takes long to import: the signal lands in its import."""
    module = tmp_path / "slow_import.py"
    ready = tmp_path / "importing"
    module.write_text(
        f"import pathlib, time\npathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "stateful_collectors", "run", f"{module}:X"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == "stateful-collectors run: interrupted\n"


def test_deferred_blocks_are_plain_blocks_without_install():
    with interrupts.deferred():
        pass
    assert not interrupts.installed()


def test_the_deadline_also_stops_a_download_in_another_thread_of_the_run(tmp_path):
    """fetch() caps its own timeout with what is left of the run's deadline."""
    from stateful_collectors.http import fetch

    with contextlib.closing(socket.create_server(("127.0.0.1", 0))) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        interrupts.start_deadline(1.0)  # no install: only remaining() knows it
        outcome: list[BaseException] = []

        def download() -> None:
            try:
                fetch(url, timeout=60)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=download)
        started = time.monotonic()
        worker.start()
        worker.join(timeout=30)
        interrupts.cancel_deadline()
    assert time.monotonic() - started < 10
    assert len(outcome) == 1 and isinstance(outcome[0], DeadlineExceeded)


def test_a_signal_inside_a_weakref_callback_still_stops_the_run(capsys):
    """Python runs handlers inside `__del__` and weakref callbacks too, where an exception is
    printed ("Exception ignored") and dropped; the signal is sent again, to stop the run."""

    class Thing:
        pass

    def callback(reference):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(10))  # the handler runs here, inside the callback

    interrupts.install()
    thing = Thing()
    reference = weakref.ref(thing, callback)
    with pytest.raises(Interrupted) as raised:
        del thing  # the callback runs now
        until = time.monotonic() + 10
        while time.monotonic() < until:  # and the interruption lands here, where it can
            time.sleep(0.001)  # stop the run (not in a bare `pass` loop: CPython 3.13.0 loses
            # an exception a signal handler raises at such a loop's jump, with threads running)
    assert reference() is None
    assert raised.value.signum == signal.SIGTERM
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_signal_sent_again_while_the_hook_still_runs_is_not_lost(capsys, monkeypatch):
    """The hook starts the thread that sends the signal again; on a busy machine that
    thread may send it before the hook has returned, and the handler then runs inside
    the hook, where its exception would be dropped once more. (A slow `Thread.start`
    stands in for the busy machine.)"""

    class Thing:
        pass

    def callback(reference):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(10))

    start = threading.Thread.start

    def slow_start(thread):
        start(thread)
        time.sleep(0.1)  # the thread's first send lands while the hook still runs

    monkeypatch.setattr(threading.Thread, "start", slow_start)
    interrupts.install()
    thing = Thing()
    reference = weakref.ref(thing, callback)
    with pytest.raises(Interrupted) as raised:
        del thing
        until = time.monotonic() + 10
        while time.monotonic() < until:
            time.sleep(0.001)
    assert reference() is None
    assert raised.value.signum == signal.SIGTERM
    assert "Exception ignored" not in capsys.readouterr().err
