"""The command line, run as real processes: exit statuses, the one summary line, signals, state.

Each test starts `python -m stateful_collectors ...` (or the installed console
script) in a subprocess, from the repository root, with the collectors of
tests/support/collectors/cli.py (`tests.support.collectors.cli:Counter`) and
the complete example from `examples/`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from stateful_collectors.command.cli import main
from stateful_collectors.runtime.runner import collector_main
from stateful_collectors.sinks.outbox import read_outbox
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.collectors import cli as collectors
from tests.support.collectors.cli import Counter

MODULE = "tests.support.collectors.cli"
"""The collectors' module, imported by name from the repository root (the processes' cwd)."""
EXAMPLE = f"{EXAMPLES}/my_statefull_collector.py:MyStatefullCollector"
CONSOLE_SCRIPT = Path(sys.executable).parent / "stateful-collectors"


def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PYTHONWARNINGS=None,
    )


class Cli:
    """Runs the command in `tmp_path`'s world: its config file, state dir and outbox."""

    def __init__(self, tmp_path: Path, state_dir: Path) -> None:
        self.tmp_path = tmp_path
        self.state_dir = state_dir
        self.outbox = tmp_path / "outbox.jsonl"
        self.ready = tmp_path / "ready"
        self.env = cli_env(tmp_path)

    def config(
        self, mode: str = "ok", url: str | None = None, *, section: str | None = None
    ) -> str:
        """A config file for one collector: its own section and [outbox].

        The section is `counter` unless `section` names another, or a `url`
        is given (the complete example's). A file named with --config may hold
        no section its collector does not read.
        """
        section = section or ("my_statefull_collector" if url is not None else "counter")
        own = {
            "counter": f"state_dir = {self.state_dir}\nmode = {mode}\nready_file = {self.ready}\n",
            "json_counter": f"state_dir = {self.state_dir}\nmode = {mode}\n",
            "rich_state": f"state_dir = {self.state_dir}\n",
            "my_statefull_collector": f"state_dir = {self.state_dir}\nurl = {url}\n",
            "plain_feed": "",
        }[section]
        path = self.tmp_path / f"{section}-{mode}.conf"
        path.write_text(f"[{section}]\n{own}[outbox]\npath = {self.outbox}\n")
        return str(path)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stateful_collectors", *args]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args),
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @contextlib.contextmanager
    def blocked_run(self, target: str = f"{MODULE}:Counter", config: str | None = None):
        """A real run that holds the lock and sits in start_publishing until signalled."""
        process = self.start("run", target, "--config", config or self.config("block"))
        try:
            wait_for(lambda: self.ready.exists() or process.poll() is not None)
            assert process.poll() is None, process.communicate()
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()

    def state_bytes(self, name: str = f"{MODULE}.Counter.pickle") -> bytes:
        return (self.state_dir / name).read_bytes()

    def messages(self) -> list:
        return read_outbox(self.outbox) if self.outbox.exists() else []


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def cli(tmp_path, state_dir) -> Cli:
    return Cli(tmp_path, state_dir)


@pytest.fixture
def ok_state(cli) -> bytes:
    """One successful run done: a state file exists."""
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0, result.stderr
    return cli.state_bytes()


# ---------------------------------------------------------------- exit statuses


def test_exit_0_and_one_summary_line(cli, ok_state):
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line == (
        f"Counter: ok: published 1 message(s) to outbox {cli.outbox}; "
        f"state saved to {cli.state_dir}/{MODULE}.Counter.pickle"
    )
    assert [m.body for m in cli.messages()] == [b"run 1", b"run 2"]


def test_the_first_run_warns_once_about_the_missing_state_file(cli):
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0
    warning, summary = result.stderr.splitlines()
    assert warning.startswith("WARNING stateful_collectors.state: state file ")
    assert summary.startswith("Counter: ok: published 1 message(s)")


def test_exit_1_when_the_run_fails_and_the_state_stays(cli, ok_state):
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config("fail"))
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        "Counter: failed: ConnectionError: the source went away (--verbose shows the traceback)"
        f"; 1 message(s) published to outbox {cli.outbox} before it stopped"
        "; state not saved (the next run starts from the previous state)"
    )
    assert cli.state_bytes() == ok_state
    assert len(cli.messages()) == 1  # the failed run's message was never confirmed


def test_exit_1_when_start_publishing_forgets_inner_stop(cli, ok_state):
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config("no-inner-stop"))
    assert result.returncode == 1
    assert "without calling self.inner_stop()" in one_line(result.stderr)
    assert cli.state_bytes() == ok_state


def test_exit_1_when_the_feed_is_unreachable(cli, feed_server):
    first = cli("run", EXAMPLE, "--config", cli.config(url=f"{feed_server.url}/items.json"))
    assert first.returncode == 0, first.stderr
    name = "my_statefull_collector.MyStatefullCollector.pickle"
    saved = cli.state_bytes(name)
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = cli("run", EXAMPLE, "--config", cli.config(url=f"http://127.0.0.1:{port}/items.json"))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith(
        f"MyStatefullCollector: failed: http://127.0.0.1:{port}/items.json?since="
    )
    assert "cannot download (ConnectionRefusedError: " in line and line.endswith(
        "state not saved (the next run starts from the previous state)"
    )
    assert cli.state_bytes(name) == saved


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "nonsense"], "'nonsense' is not MODULE:CLASS"),
        (["run", "no_such_module:X"], "no module named 'no_such_module'"),
        (["run", f"{MODULE}:Missing"], f"module '{MODULE}' has no class 'Missing'"),
        (["run", f"{MODULE}:log"], "is not a collector class"),
        (["run", "missing/file.py:X"], "missing/file.py: no such Python file"),
        (["run"], "the following arguments are required: MODULE:CLASS"),
        (["run", f"{MODULE}:Counter", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["state", "show", f"{MODULE}:Plain"], "keeps no state"),
        (["state", "set", f"{MODULE}:Counter"], "the following arguments are required: VALUE"),
        (["state", "show", f"{MODULE}:Counter", "{}"], "unrecognized arguments: {}"),
        (["state", "drop", f"{MODULE}:Counter"], "invalid choice: 'drop'"),
        (["demo-feed", "--start", "yesterday"], "--start 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_exit_2_for_usage_errors(cli, args, expected):
    if args[0] == "state":
        section = "plain_feed" if args[2].endswith(":Plain") else "counter"
        args = [*args, "--config", cli.config(section=section)]
    result = cli(*args)
    assert result.returncode == 2
    assert expected in one_line(result.stderr)


def test_exit_1_and_one_line_when_the_collector_module_does_not_import(cli, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import math\n\ndef oops(:\n")
    result = cli("run", f"{broken}:X")
    assert result.returncode == 1
    assert "cannot import" in one_line(result.stderr) and "SyntaxError" in result.stderr
    verbose = cli("run", f"{broken}:X", "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        (None, "config file not found"),
        ("[counter]\n", "[counter] option 'state_dir' is required"),
        ("[counter]\nstate_dir = /x\nmdoe = ok\n", "unknown option 'mdoe' (did you mean 'mode'?)"),
        ("[other]\n", "section [counter] is missing"),
    ],
)
def test_exit_3_for_config_errors(cli, tmp_path, config_text, expected):
    config = tmp_path / "bad.conf"
    if config_text is not None:
        config.write_text(config_text)
    result = cli("run", f"{MODULE}:Counter", "--config", str(config))
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert line.startswith("Counter: ") and expected in line
    assert list(cli.state_dir.iterdir()) == []


def test_exit_4_for_a_damaged_state_file_which_stays_as_it_was(cli, ok_state):
    state_file = cli.state_dir / f"{MODULE}.Counter.pickle"
    state_file.write_bytes(ok_state[: len(ok_state) // 2])
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 4
    line = one_line(result.stderr)
    assert f"state file {state_file} cannot be decoded as pickle" in line
    assert "stateful-collectors state reset" in line
    assert state_file.read_bytes() == ok_state[: len(ok_state) // 2]
    assert len(cli.messages()) == 1


def test_exit_5_while_another_run_holds_the_lock(cli, ok_state):
    with cli.blocked_run() as running:
        result = cli("run", f"{MODULE}:Counter", "--config", cli.config())
        assert result.returncode == 5
        line = one_line(result.stderr)
        assert line.startswith(f"Counter: Counter is already running (pid {running.pid}, since ")
        assert line.endswith("this run did nothing")
    assert cli.state_bytes() == ok_state


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_exit_130_on_a_signal_in_start_publishing(cli, ok_state, signum):
    with cli.blocked_run() as running:
        running.send_signal(signum)
        _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130
    assert one_line(stderr) == (
        f"Counter: interrupted: 1 message(s) published to outbox {cli.outbox} before it stopped"
        "; state not saved (the next run starts from the previous state)"
    )
    assert cli.state_bytes() == ok_state
    assert sorted(p.name for p in cli.state_dir.iterdir()) == [
        f"{MODULE}.Counter.pickle",
        f"{MODULE}.Counter.pickle.lock",
    ]
    assert len(cli.messages()) == 1  # the interrupted run's message was not confirmed


def test_exit_130_when_the_collector_calls_stop(cli, ok_state):
    result = cli("run", f"{MODULE}:Counter", "--config", cli.config("stop"))
    assert result.returncode == 130
    assert one_line(result.stderr).startswith("Counter: interrupted: 1 message(s) published")
    assert cli.state_bytes() == ok_state


class HangingServer:
    """A real TCP server on loopback that accepts connections and never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/items.json"
        self.accepted = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._socket.accept()
                self._connections.append(connection)
                self.accepted.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._socket.close()
        self._thread.join(timeout=10)
        for connection in self._connections:
            connection.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_exit_130_on_a_signal_during_the_examples_download(cli, feed_server, signum):
    first = cli("run", EXAMPLE, "--config", cli.config(url=f"{feed_server.url}/items.json"))
    assert first.returncode == 0, first.stderr
    name = "my_statefull_collector.MyStatefullCollector.pickle"
    saved = cli.state_bytes(name)
    server = HangingServer()
    try:
        running = cli.start("run", EXAMPLE, "--config", cli.config(url=server.url))
        try:
            assert server.accepted.wait(60), "the collector never connected"
            time.sleep(0.2)  # let it reach the blocking read of the response
            running.send_signal(signum)
            _, stderr = running.communicate(timeout=60)
        finally:
            if running.poll() is None:
                running.kill()
                running.communicate()
    finally:
        server.close()
    assert running.returncode == 130
    assert one_line(stderr) == (
        "MyStatefullCollector: interrupted: nothing published"
        "; state not saved (the next run starts from the previous state)"
    )
    assert cli.state_bytes(name) == saved


def test_verbose_shows_debug_logs_and_tracebacks(cli, ok_state):
    quiet = cli("run", f"{MODULE}:Counter", "--config", cli.config())
    assert "DEBUG" not in quiet.stderr
    loud = cli("run", f"{MODULE}:Counter", "--config", cli.config(), "--verbose")
    assert loud.returncode == 0
    assert f"DEBUG {MODULE}: counter starts in mode ok" in loud.stderr
    assert "DEBUG stateful_collectors" in loud.stderr
    assert loud.stderr.splitlines()[-1].startswith("Counter: ok: published 1 message(s)")
    failing = cli("run", f"{MODULE}:Counter", "--config", cli.config("fail"), "-v")
    assert failing.returncode == 1
    assert (
        "Traceback" in failing.stderr and "ConnectionError: the source went away" in failing.stderr
    )
    assert failing.stderr.splitlines()[-1].startswith("Counter: failed: ConnectionError")


def test_the_console_script_and_python_m_cli_work_too(cli, ok_state):
    config = cli.config()
    for command in (
        [str(CONSOLE_SCRIPT)],
        [sys.executable, "-m", "stateful_collectors.command.cli"],
    ):
        result = subprocess.run(
            [*command, "run", f"{MODULE}:Counter", "--config", config],
            cwd=ROOT,
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert one_line(result.stderr).startswith("Counter: ok: published 1 message(s)")
    assert [m.body for m in cli.messages()] == [b"run 1", b"run 2", b"run 3"]


def test_a_run_by_file_path_uses_the_same_state_as_by_module_name(cli):
    # A file is imported as a module named after its stem (`cli`), the name it
    # has run by module name from its own directory.
    path = Path(collectors.__file__)
    by_name = subprocess.run(
        cli.command("run", f"{path.stem}:Counter", "--config", cli.config()),
        cwd=path.parent,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert by_name.returncode == 0, by_name.stderr
    result = cli("run", f"{path}:Counter", "--config", cli.config())
    assert result.returncode == 0, result.stderr
    assert [m.body for m in cli.messages()] == [b"run 1", b"run 2"]


# ---------------------------------------------------------------- per-collector commands


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_collector_main_makes_a_working_main(cli, capsys, restore_logging):
    command = collector_main(Counter)
    assert command(["--config", cli.config()]) == 0
    assert command(["--config", cli.config("fail")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-2].startswith("Counter: ok: published 1 message(s)")
    assert err[-1].startswith("Counter: failed: ConnectionError: the source went away")
    assert command(["--nope"]) == 2  # Counter takes no arguments of its own
    assert capsys.readouterr().err.splitlines()[-1] == (
        "Counter: unrecognized arguments: --nope (Counter takes no arguments of its own; "
        "see --help)"
    )


def test_scripts_prints_ready_to_paste_entry_points_that_work(cli, capsys, restore_logging):
    result = cli("scripts", MODULE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[project.scripts]",
        f'collector-counter = "{MODULE}:Counter.cli_main"',
        f'collector-json-counter = "{MODULE}:JsonCounter.cli_main"',
        f'collector-rich-state = "{MODULE}:RichState.cli_main"',
        f'collector-plain-feed = "{MODULE}:Plain.cli_main"',
    ]
    scripts = tomllib.loads(result.stdout)["project"]["scripts"]
    for name, entry_point in scripts.items():
        module_name, _, attribute_path = entry_point.partition(":")
        target = importlib.import_module(module_name)
        for attribute in attribute_path.split("."):
            target = getattr(target, attribute)
        config = cli.config(section=name.removeprefix("collector-").replace("-", "_"))
        assert target(["--config", config]) == 0, name
    summaries = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in summaries if ": ok: " in line] == [
        "Counter",
        "JsonCounter",
        "RichState",
        "Plain",
    ]


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("tests/support/collectors/cli.py", "give the module's dotted import name"),
        ("no_such_module", "no module named 'no_such_module'"),
        ("json", "module 'json' defines no collector class"),
    ],
)
def test_scripts_refuses_what_it_cannot_use(cli, module, expected):
    result = cli("scripts", module)
    assert result.returncode == 2
    assert result.stdout == ""
    assert expected in one_line(result.stderr)


def test_python_m_stateful_collectors_shows_help(cli):
    result = cli("--help")
    assert result.returncode == 0
    assert "usage: stateful-collectors" in result.stdout
    for command in ("run", "state", "scripts", "demo-feed"):
        assert command in result.stdout


def test_demo_feed_on_a_busy_port_is_one_line(cli):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = cli("demo-feed", "--port", str(port), "--interval", "0")
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in one_line(result.stderr)


# ---------------------------------------------------------------- state commands


def test_state_path_prints_the_file_without_taking_the_lock(cli, ok_state):
    with cli.blocked_run():
        result = cli("state", "path", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0
    assert result.stdout == f"{cli.state_dir}/{MODULE}.Counter.pickle\n"


def test_state_show_prints_json(cli, ok_state):
    result = cli("state", "show", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0
    assert result.stdout == '{"runs": 1}\n'
    assert result.stderr == ""


def test_state_show_without_a_state_file_shows_the_default(cli):
    result = cli("state", "show", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 0
    assert result.stdout == '{"runs": 0}\n'
    assert "no state file yet" in one_line(result.stderr)
    assert not (cli.state_dir / f"{MODULE}.Counter.pickle").exists()


def test_state_show_makes_non_json_types_readable_and_set_reads_them_back(cli):
    config = cli.config(section="rich_state")
    assert cli("run", f"{MODULE}:RichState", "--config", config).returncode == 0
    target = [f"{MODULE}:RichState", "--config", config]
    shown = cli("state", "show", *target)
    assert shown.returncode == 0
    assert shown.stdout == (
        "{\n"
        '  "by_key": {"$dict": [[{"$tuple": ["feed", 1]}, 5], [{"$tuple": ["feed", 2]}, 6]]},\n'
        '  "last": {"$datetime": "2026-11-27T20:04:00+00:00"},\n'
        '  "raw": {"$bytes_base64": "/wA="},\n'
        '  "seen": {"$set": [1, 2, 3]},\n'
        '  "window": {"$timedelta": 300.0}\n'
        "}\n"
    )
    state_file = cli.state_dir / f"{MODULE}.RichState.pickle"
    before = state_file.read_bytes()
    again = cli("state", "set", *target, "-", stdin=shown.stdout)
    assert again.returncode == 0, again.stderr
    assert cli("state", "show", *target).stdout == shown.stdout
    import pickle

    assert pickle.loads(state_file.read_bytes()) == pickle.loads(before)


def test_state_show_of_a_damaged_file_is_exit_4(cli, ok_state):
    (cli.state_dir / f"{MODULE}.Counter.pickle").write_bytes(b"garbage")
    result = cli("state", "show", f"{MODULE}:Counter", "--config", cli.config())
    assert result.returncode == 4
    assert "cannot be decoded as pickle" in one_line(result.stderr)


def test_state_reset_asks_and_keeps_a_backup_that_restores(cli, ok_state):
    target = [f"{MODULE}:Counter", "--config", cli.config()]
    state_file = cli.state_dir / f"{MODULE}.Counter.pickle"

    declined = cli("state", "reset", *target, stdin="n\n")
    assert declined.returncode == 1
    assert f"Reset the state of {MODULE}:Counter?" in declined.stdout
    assert "not reset" in declined.stderr
    assert state_file.read_bytes() == ok_state

    no_answer = cli("state", "reset", *target, stdin="")
    assert no_answer.returncode == 1 and state_file.read_bytes() == ok_state

    accepted = cli("state", "reset", *target, stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert not state_file.exists()
    (backup,) = cli.state_dir.glob(f"{MODULE}.Counter.pickle.*.bak")
    assert backup.read_bytes() == ok_state
    assert f"(to undo: cp -p {backup} {state_file})" in accepted.stdout

    after_reset = cli("run", *target)
    assert after_reset.returncode == 0
    assert cli("state", "show", *target).stdout == '{"runs": 1}\n'  # started from the default

    shutil.copy2(backup, state_file)  # restore the backup
    assert cli("state", "show", *target).stdout == '{"runs": 1}\n'
    assert cli("run", *target).returncode == 0
    assert cli("state", "show", *target).stdout == '{"runs": 2}\n'


def test_state_reset_yes_and_nothing_to_reset(cli, ok_state):
    target = [f"{MODULE}:Counter", "--config", cli.config()]
    result = cli("state", "reset", *target, "--yes")
    assert result.returncode == 0
    assert result.stdout.startswith("state reset; the old state is kept in ")
    again = cli("state", "reset", *target, "--yes")
    assert again.returncode == 0
    assert "nothing to reset" in again.stdout


def test_state_reset_recovers_from_a_damaged_file(cli, ok_state):
    target = [f"{MODULE}:Counter", "--config", cli.config()]
    (cli.state_dir / f"{MODULE}.Counter.pickle").write_bytes(b"\x80garbage")
    assert cli("run", *target).returncode == 4
    assert cli("state", "reset", *target, "-y").returncode == 0
    assert cli("run", *target).returncode == 0


def test_state_set_from_an_argument_and_from_stdin(cli, ok_state):
    target = [f"{MODULE}:Counter", "--config", cli.config()]
    state_file = cli.state_dir / f"{MODULE}.Counter.pickle"
    result = cli("state", "set", *target, '{"runs": 41}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"state saved to {state_file}; the old state is kept in ")
    assert cli("state", "show", *target).stdout == '{"runs": 41}\n'
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    assert cli("run", *target).returncode == 0
    assert cli.messages()[-1].body == b"run 42"

    piped = cli("state", "set", *target, "-", stdin='{"runs": 7}\n')
    assert piped.returncode == 0
    assert cli("state", "show", *target).stdout == '{"runs": 7}\n'
    backups = sorted(cli.state_dir.glob("*.bak"))
    assert len(backups) == 2
    assert not list(cli.state_dir.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{runs: 1}", "VALUE is not a state: not valid JSON (Expecting property name"),
        ('{"$repr": "x"}', "$repr: stands for an object that JSON cannot describe"),
        ('{"$nope": 1}', "unknown tag '$nope'"),
        ('{"$set": [[1]]}', "cannot be a set element or dict key"),
    ],
)
def test_state_set_refuses_bad_input_and_changes_nothing(cli, ok_state, value, expected):
    result = cli("state", "set", f"{MODULE}:Counter", value, "--config", cli.config())
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert expected in line and line.endswith("nothing was changed")
    assert cli.state_bytes() == ok_state
    assert not list(cli.state_dir.glob("*.bak"))


def test_state_set_refuses_what_a_json_state_file_cannot_hold(cli):
    target = [f"{MODULE}:JsonCounter", "--config", cli.config(section="json_counter")]
    assert cli("run", *target).returncode == 0
    state_file = cli.state_dir / f"{MODULE}.JsonCounter.json"
    before = state_file.read_bytes()
    result = cli("state", "set", *target, '{"runs": {"$set": [1]}}')
    assert result.returncode == 2
    assert "state is not plain JSON data" in one_line(result.stderr)
    assert state_file.read_bytes() == before
    assert not list(cli.state_dir.glob("*.bak"))
    assert cli("state", "set", *target, '{"runs": 5}').returncode == 0
    assert state_file.read_text() == '{\n  "runs": 5\n}\n'


@pytest.mark.parametrize(
    ("action", "extra"),
    [("reset", ["--yes"]), ("set", ['{"runs": 99}']), ("show", [])],
)
def test_state_commands_refuse_to_race_a_running_collector(cli, ok_state, action, extra):
    with cli.blocked_run() as running:
        result = cli("state", action, f"{MODULE}:Counter", *extra, "--config", cli.config())
        assert result.returncode == 5
        assert f"Counter is already running (pid {running.pid}, since " in one_line(result.stderr)
        assert result.stdout == ""
    assert cli.state_bytes() == ok_state
    assert not list(cli.state_dir.glob("*.bak"))


def test_main_in_process_returns_the_status(cli, ok_state, capsys, restore_logging):
    assert main(["state", "path", f"{MODULE}:Counter", "--config", cli.config()]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{MODULE}.Counter.pickle")
