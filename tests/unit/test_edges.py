"""Hostile input through the real command: one clear line, the right status, the state kept.

Each case is a real `stateful-collectors` process run the way a user would
meet the problem: the complete example with a config file it reads, the
environment variable set, a local HTTP server that redirects in a loop, a
standard error on `/dev/full`, a standard output closed by the shell. Each
case checks:

* the exit status;
* the line on standard error, exactly: one line (a control character in a
  path or in an error's text is escaped), with no secret in it (the password
  and the token the case plants never show), and bounded;
* the state file: byte for byte what it was after an error; the new state
  after a run that succeeded.

The cases run as separate tests, so that pytest-xdist spreads the processes
over the workers.
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import pickle
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stateful_collectors.config import default_search_path
from stateful_collectors.demo import DemoFeed
from stateful_collectors.runtime.output import MAX_LINE_CHARS, escape
from stateful_collectors.sinks.outbox import default_outbox_path
from tests.support import EXAMPLES, ROOT, clean_env
from tests.support.feeds import CountingFeed
from tests.support.processes import CLI

TARGET = f"{EXAMPLES}/my_statefull_collector.py:MyStatefullCollector"
COUNTER = "tests.support.collectors.cli:Counter"
STATE_NAME = "my_statefull_collector.MyStatefullCollector.pickle"
SAVED = pickle.dumps({"last_utc": "2026-11-27T20:01:00Z"}, protocol=5)
SECRETS = ("s3cret", "abc123", "hunter2")
"""What the cases plant as passwords and tokens: never in any output."""


class _Redirects(http.server.BaseHTTPRequestHandler):
    """`/loop` redirects to itself, `/ftp` to an ftp: URL, `/hop/N` to `/hop/N+1` for ever."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?")[0]
        if path.startswith("/hop/"):
            location = f"/hop/{int(path.rsplit('/', 1)[1]) + 1}"
        else:
            location = {"/loop": "/loop", "/ftp": "ftp://127.0.0.1/items.json"}.get(path)
        if location is None:
            self.send_error(404)
            return
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """A demo feed, and a source that redirects badly: their base URLs."""
    redirects = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=redirects.serve_forever, daemon=True).start()
    feed = DemoFeed(history=3, start="2026-11-27T20:00:00Z")
    try:
        with feed.serve() as server:
            yield {"feed": server.url, "redirects": f"http://127.0.0.1:{redirects.server_port}"}
    finally:
        redirects.shutdown()
        redirects.server_close()


@dataclasses.dataclass
class Case:
    """One hostile input, and what the command must do with it.

    `options` are the lines of the collector's section after `state_dir`
    (`{feed}`, `{redirects}`, `{tmp}` filled in); `url` is the source's URL.
    `expected` is the last line of stderr with `{tmp}`, `{url}`, `{config}`,
    `{state}` and `{target}` filled in; `changes` says the run succeeds and
    saves a new state.
    """

    id: str
    status: int
    expected: str
    url: str = "{feed}/items.json"
    options: str = ""
    state_dir: str = "{tmp}/state"
    env: dict[str, str | None] = dataclasses.field(default_factory=dict)
    sections: str = "[outbox]\npath = {tmp}/outbox.jsonl\n"  # the library's sections
    command: Callable[[list[str]], list[str]] | None = None  # wraps the argv (a shell, say)
    argv: list[str] | None = None  # instead of `run TARGET --config FILE`
    config_prefix: bytes = b""
    changes: bool = False
    stderr_to: str | None = None  # a file the process's stderr is opened on
    state_dir_is_file: bool = False  # state_dir names the state file itself
    lines: int = 1  # lines on stderr, besides a first run's warning
    counter: str | None = None  # run tests.support.collectors.cli:Counter in this mode instead


def shell(redirection: str) -> Callable[[list[str]], list[str]]:
    """The argv run by bash with `redirection` applied: `>&-` closes stdout."""
    return lambda argv: ["bash", "-c", f'exec "$@" {redirection}', "bash", *argv]


LONG = (  # what describe_exception keeps of LONG_FAILURE (its first 270 characters), escaped
    "RuntimeError: token=*** \\x1b[31m" + "the source said " * 15 + "the source s"
    "... [2952 more characters left out]"
)
OK_LINE = (
    "MyStatefullCollector: ok: published 1 message(s) to outbox {tmp}/outbox.jsonl; "
    "state saved to {state}"
)
NOTHING = "; nothing published; state not saved (the next run starts from the previous state)"

CASES = [
    # 1. a secret reaches the log
    Case(
        "a password in the url",
        1,
        "MyStatefullCollector: failed: http://user:***@127.0.0.1:1/x?since=2026-11-27T20%3A01"
        "%3A00Z: cannot download (ConnectionRefusedError: [Errno 111] Connection refused)"
        + NOTHING,
        url="http://user:s3cret@127.0.0.1:1/x",
    ),
    Case(
        "a token in the url's query",
        1,
        "MyStatefullCollector: failed: http://127.0.0.1:1/x?access_token=***: cannot download "
        "(ConnectionRefusedError: [Errno 111] Connection refused)" + NOTHING,
        url="http://127.0.0.1:1/x?access_token=abc123",
    ),
    Case(
        "a password in $STATEFUL_COLLECTORS_AMQP_URL with a bad port",
        3,
        "MyStatefullCollector: failed: $STATEFUL_COLLECTORS_AMQP_URL = "
        "'amqp://collector:***@broker:99999/%2F': the value has no port number from 1 to "
        "65535 after its host; write e.g. amqp://broker.example.org:5672/%2F" + NOTHING,
        env={"STATEFUL_COLLECTORS_AMQP_URL": "amqp://collector:hunter2@broker:99999/%2F"},
    ),
    # 2. a value not checked where it is given
    Case(
        "a NUL in state_dir",
        3,
        "MyStatefullCollector: {config}: [my_statefull_collector] option 'state_dir' = "
        "'st\\x00ate': the value holds a control character ('\\x00' at character 3); remove it",
        state_dir="st\0ate",
    ),
    Case(
        "a NUL in url",
        3,
        "MyStatefullCollector: {config}: [my_statefull_collector] option 'url' = "
        "'http://127.0.0.1:1/x\\x00y': the value holds a control character ('\\x00' at "
        "character 21); remove it",
        url="http://127.0.0.1:1/x\0y",
    ),
    Case(
        "download_max_bytes = -5",
        3,
        "MyStatefullCollector: {config}: [my_statefull_collector] option 'download_max_bytes' "
        "= '-5': the value is not a whole number greater than 0; write e.g. 10000000 (the default)",
        options="download_max_bytes = -5\n",
    ),
    Case(
        "download_timeout = 0",
        3,
        "MyStatefullCollector: {config}: [my_statefull_collector] option 'download_timeout' = "
        "'0': the value is not a number of seconds greater than 0; write e.g. 30 (the default)",
        options="download_timeout = 0\n",
    ),
    Case(
        "state_dir through a device: /dev/null/x",
        4,
        "MyStatefullCollector: failed: state dir /dev/null/x is not a directory (/dev/null is "
        "a character device); point state_dir at a directory" + NOTHING,
        state_dir="/dev/null/x",
    ),
    Case(
        "state_dir that is a file",
        4,
        "MyStatefullCollector: failed: state dir {tmp}/state/{state_name} is not a directory "
        "(it is a regular file); point state_dir at a directory" + NOTHING,
        state_dir="{tmp}/state/{state_name}",
        state_dir_is_file=True,
    ),
    Case(
        "STATEFUL_COLLECTORS_AMQP_URL='amqp://:::'",
        3,
        "MyStatefullCollector: failed: $STATEFUL_COLLECTORS_AMQP_URL = 'amqp://:::': the value "
        "has no port number from 1 to 65535 after its host; write e.g. "
        "amqp://broker.example.org:5672/%2F" + NOTHING,
        env={"STATEFUL_COLLECTORS_AMQP_URL": "amqp://:::"},
    ),
    Case(
        "STATEFUL_COLLECTORS_CONFIG=':::'",
        3,
        "MyStatefullCollector: $STATEFUL_COLLECTORS_CONFIG is set to ':::', which names no "
        "file; set it to the path of a config file (several separated by ':'), or unset it",
        env={"STATEFUL_COLLECTORS_CONFIG": ":::"},
        argv=["run", TARGET],
    ),
    Case(
        "a config file that starts with a byte order mark",
        0,
        OK_LINE,
        config_prefix=b"\xef\xbb\xbf",
        changes=True,
    ),
    # 3. redirects
    Case(
        "a redirect loop",
        1,
        "MyStatefullCollector: failed: {redirects}/loop?since=2026-11-27T20%3A01%3A00Z: the "
        "server redirects in a loop (back to {redirects}/loop after 1 redirect(s)); check the "
        "URL" + NOTHING,
        url="{redirects}/loop",
    ),
    Case(
        "a redirect to ftp:",
        1,
        "MyStatefullCollector: failed: {redirects}/ftp?since=2026-11-27T20%3A01%3A00Z: the "
        "server redirects to ftp://127.0.0.1/items.json, not an http or https URL; fetch() "
        "follows redirects only to those" + NOTHING,
        url="{redirects}/ftp",
    ),
    Case(
        "redirects without end",
        1,
        "MyStatefullCollector: failed: {redirects}/hop/0?since=2026-11-27T20%3A01%3A00Z: the "
        "server redirects more than 10 times (the last one to {redirects}/hop/11); check the "
        "URL" + NOTHING,
        url="{redirects}/hop/0",
    ),
    # 4. lines that break
    Case(
        "a newline in a path",
        0,
        OK_LINE,
        state_dir="{tmp}/sta\n  te",  # a value continued on the next line of the file
        changes=True,
    ),
    Case(
        "stderr on /dev/full after a saved run",
        0,
        "",
        stderr_to="/dev/full",
        changes=True,
    ),
    Case(
        "state show with stdout closed",
        74,
        "stateful-collectors state: stdout is closed, so nothing was shown",
        argv=["state", "show", TARGET, "--config", "{config}"],
        command=shell(">&-"),
    ),
    # ... and of the same kinds
    Case(
        "a collector's exception text of 3 KB, with a token and control characters",
        1,
        "Counter: failed: " + LONG + " (--verbose shows the traceback); 1 message(s) published "
        "to outbox {tmp}/outbox.jsonl before it stopped; state not saved (the next run starts "
        "from the previous state)",
        counter="fail-long",
    ),
    Case(
        "the same with --verbose: a traceback, masked",
        1,
        "Counter: failed: " + LONG + "; 1 message(s) published to outbox "
        "{tmp}/outbox.jsonl before it stopped; state not saved (the next run starts from the "
        "previous state)",
        counter="fail-long",
        argv=["run", COUNTER, "--config", "{config}", "--verbose"],
        lines=0,
    ),
    Case(
        "a newline in the name of the config file",
        3,
        "MyStatefullCollector: {tmp}/no\\nsuch.conf: config file not found; check the path or "
        "create the file",
        argv=["run", TARGET, "--config", "{tmp}/no\nsuch.conf"],
    ),
    Case(
        "an escape character in url",
        3,
        "MyStatefullCollector: {config}: [my_statefull_collector] option 'url' = "
        "'http://127.0.0.1:1/\\x1b[2J': the value holds a control character ('\\x1b' at "
        "character 20); remove it",
        url="http://127.0.0.1:1/\x1b[2J",
    ),
    Case(
        "--config ''",
        3,
        "MyStatefullCollector: the config file's name is empty; give its path (--config FILE)",
        argv=["run", TARGET, "--config", ""],
    ),
    Case(
        "STATEFUL_COLLECTORS_CONFIG naming no such file",
        3,
        "MyStatefullCollector: {tmp}/nowhere.conf: config file not found; check the path or "
        "create the file ($STATEFUL_COLLECTORS_CONFIG names it)",
        env={"STATEFUL_COLLECTORS_CONFIG": "{tmp}/nowhere.conf"},
        argv=["run", TARGET],
    ),
    Case(
        "[rabbitmq] port = 99999",
        3,
        "MyStatefullCollector: failed: {config}: [rabbitmq] option 'port' = '99999': the value "
        "is not a port number; write a whole number from 1 to 65535" + NOTHING,
        sections="[rabbitmq]\nport = 99999\n",
    ),
    Case(
        "[rabbitmq] url that is no AMQP URL",
        3,
        "MyStatefullCollector: failed: {config}: [rabbitmq] option 'url' = "
        "'http://guest:***@broker/': the value is not an amqp:// or amqps:// URL; write e.g. "
        "amqp://broker.example.org:5672/%2F" + NOTHING,
        sections="[rabbitmq]\nurl = http://guest:hunter2@broker/\n",
    ),
    Case(
        "[rabbitmq] socket_timeout = 0",
        3,
        "MyStatefullCollector: failed: {config}: [rabbitmq] option 'socket_timeout' = '0': the "
        "value is not a number of seconds greater than 0; write e.g. 10 (the default)" + NOTHING,
        sections="[rabbitmq]\nsocket_timeout = 0\n",
    ),
    Case(
        "[rabbitmq] ssl_ca_certfile that does not exist",
        3,
        "MyStatefullCollector: failed: {config}: [rabbitmq] option 'ssl_ca_certfile' names a "
        "file that cannot be used (No such file or directory); give the path of a PEM file the "
        "collector's user may read" + NOTHING,
        sections="[rabbitmq]\nssl = true\nssl_ca_certfile = {tmp}/no-ca.pem\n",
    ),
    Case(
        "an unknown option with a newline and a token, on the command line",
        2,
        "MyStatefullCollector: unrecognized arguments: --x\\ny?token=*** (MyStatefullCollector "
        "takes no arguments of its own; see --help)",
        argv=["run", TARGET, "--config", "{config}", "--x\ny?token=abc123"],
    ),
    Case(
        "a url whose port is out of range",
        1,
        "MyStatefullCollector: failed: http://127.0.0.1:99999/x?since=2026-11-27T20%3A01%3A00Z: "
        "cannot be fetched: Port out of range 0-65535; check the URL" + NOTHING,
        url="http://127.0.0.1:99999/x",
    ),
    Case(
        "http_proxy=':::'",
        1,
        "MyStatefullCollector: failed: http://127.0.0.1:1/x?since=2026-11-27T20%3A01%3A00Z: "
        "cannot be fetched: $http_proxy = ':::' names no proxy (write e.g. "
        "http://proxy.example.org:3128); fix or unset it" + NOTHING,
        url="http://127.0.0.1:1/x",
        env={"http_proxy": ":::", "no_proxy": None, "NO_PROXY": None, "HTTP_PROXY": None},
    ),
    Case(
        "[outbox] path through a device",
        4,
        "MyStatefullCollector: failed: outbox dir /dev/null/x is not a directory (/dev/null is "
        "a character device); point [outbox] path at a file in a directory" + NOTHING,
        sections="[outbox]\npath = /dev/null/x/outbox.jsonl\n",
    ),
    Case(
        "STATEFUL_COLLECTORS_OUTBOX through a device",
        4,
        "MyStatefullCollector: failed: outbox dir /dev/null/x is not a directory (/dev/null is "
        "a character device); point [outbox] path at a file in a directory" + NOTHING,
        env={"STATEFUL_COLLECTORS_OUTBOX": "/dev/null/x/outbox.jsonl"},
    ),
    Case(
        "state show with stdout on /dev/full",
        74,
        "stateful-collectors state: stdout cannot be written (No space left on device), so "
        "nothing was shown",
        argv=["state", "show", TARGET, "--config", "{config}"],
        command=shell(">/dev/full"),
    ),
    Case(
        "state path with stdout closed",
        74,
        "stateful-collectors state: stdout is closed, so nothing was shown",
        argv=["state", "path", TARGET, "--config", "{config}"],
        command=shell(">&-"),
    ),
    Case(
        "--help with stdout on /dev/full",
        74,
        "stateful-collectors: stdout cannot be written (No space left on device), so the help "
        "was not shown",
        argv=["--help"],
        command=shell(">/dev/full"),
    ),
    Case(
        "run --help with stdout closed",
        74,
        "stateful-collectors run: stdout is closed, so the help was not shown",
        argv=["run", "--help"],
        command=shell(">&-"),
    ),
    Case(
        "state set with stdout closed: the state is set",
        0,
        "",
        argv=[
            "state",
            "set",
            TARGET,
            '{"last_utc": "2026-11-27T20:02:00Z"}',
            "--config",
            "{config}",
        ],
        command=shell(">&-"),
        changes=True,
    ),
    Case(
        "run with stderr closed after a saved run",
        0,
        "",
        command=shell("2>&-"),
        changes=True,
    ),
]


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_an_edge_through_the_command(case: Case, servers: dict[str, str], tmp_path: Path) -> None:
    values = {**servers, "tmp": str(tmp_path), "state_name": STATE_NAME}
    state_dir = _fill(case.state_dir, values)
    real_state_dir = Path(state_dir.replace("\n  ", "\n"))  # what a continued value becomes
    state_file = real_state_dir / STATE_NAME
    if case.state_dir_is_file:
        real_state_dir, state_file = real_state_dir.parent, real_state_dir
    if "\0" not in state_dir and not state_dir.startswith("/dev/"):
        real_state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        state_file.write_bytes(SAVED)
        state_file.chmod(0o600)
    config = tmp_path / "collector.conf"
    values.update(config=str(config), state=escape(str(state_file)), target=TARGET)
    config.write_bytes(
        case.config_prefix
        + (
            f"[my_statefull_collector]\nstate_dir = {state_dir}\n"
            f"url = {_fill(case.url, values)}\n{case.options}{_fill(case.sections, values)}"
        ).encode()
    )
    if case.counter is not None:
        state_file = real_state_dir / f"{COUNTER.replace(':', '.')}.pickle"
        values["state"] = str(state_file)
        state_file.write_bytes(pickle.dumps({"runs": 1}))
        state_file.chmod(0o600)
        config.write_text(
            f"[counter]\nstate_dir = {real_state_dir}\nmode = {case.counter}\n"
            f"{_fill(case.sections, values)}"
        )
    before = state_file.read_bytes() if state_file.exists() else None
    default = ["run", COUNTER if case.counter else TARGET, "--config", "{config}"]
    argv = [_fill(part, values) for part in (case.argv or default)]
    argv = [*CLI, *argv]
    if case.command is not None:
        argv = case.command(argv)
    with open(case.stderr_to or os.devnull, "w") as full:
        result = subprocess.run(
            argv,
            cwd=ROOT,
            env=clean_env(**{key: _fill(v, values) if v else v for key, v in case.env.items()}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=full if case.stderr_to else subprocess.PIPE,
            timeout=60,
            check=False,
        )
    stderr = (result.stderr or b"").decode()
    lines = stderr.splitlines()
    print(f"{case.id}: exit {result.returncode}: {lines[-1] if lines else '(nothing)'}")
    assert (result.returncode, lines[-1] if lines else "") == (
        case.status,
        _fill(case.expected, values),
    ), stderr
    if case.lines:
        assert len(lines) <= case.lines + (before is None), stderr  # a first run adds its warning
    assert ("Traceback" in stderr) == ("--verbose" in argv)  # only asked for
    assert not [char for char in stderr if char < " " and char != "\n"], stderr  # all escaped
    assert all(len(line) <= MAX_LINE_CHARS + 40 for line in lines)
    everything = stderr + (result.stdout or b"").decode(errors="replace")
    assert not [secret for secret in SECRETS if secret in everything], everything
    after = state_file.read_bytes() if state_file.exists() else None
    if case.changes:
        new = {"runs": 2} if case.counter else {"last_utc": "2026-11-27T20:02:00Z"}
        assert after is not None and pickle.loads(after) == new
    else:
        assert after == before


def test_a_columns_variable_that_is_no_width_is_ignored():
    """`$COLUMNS` of -5 lays out the help as an unset one does, not a word a line."""
    usage = {}
    for columns in ("-5", "0", "junk", None):
        result = subprocess.run(
            [*CLI, "run", "--help"],
            env=clean_env(COLUMNS=columns),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        usage[columns] = result.stdout
    assert usage["-5"] == usage["0"] == usage["junk"] == usage[None]
    assert usage[None].startswith(
        "usage: stateful-collectors run [-h] [--config FILE] [--deadline SECONDS] [-v]"
    )


def test_relative_xdg_directories_are_ignored_as_the_xdg_rules_say():
    home = Path.home()
    assert default_search_path({"XDG_CONFIG_HOME": "conf"})[1] == (
        home / ".config" / "stateful-collectors"
    )
    assert default_outbox_path({"XDG_DATA_HOME": "data"}) == (
        home / ".local" / "share" / "stateful-collectors" / "outbox.jsonl"
    )
    assert default_outbox_path({"XDG_DATA_HOME": "/srv/d"}) == Path(
        "/srv/d/stateful-collectors/outbox.jsonl"
    )


def test_a_hard_linked_state_file_is_accepted_and_its_other_name_keeps_the_old_state(
    servers: dict[str, str], tmp_path: Path
) -> None:
    """As *What the library protects you from* says: a save puts a new file in its place."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    state_file = state_dir / STATE_NAME
    state_file.write_bytes(SAVED)
    state_file.chmod(0o600)
    other_name = tmp_path / "other-name.pickle"
    os.link(state_file, other_name)
    config = tmp_path / "collector.conf"
    config.write_text(
        f"[my_statefull_collector]\nstate_dir = {state_dir}\nurl = {servers['feed']}/items.json\n"
        f"[outbox]\npath = {tmp_path}/outbox.jsonl\n"
    )
    result = subprocess.run(
        [*CLI, "run", TARGET, "--config", str(config)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (
        0,
        f"MyStatefullCollector: ok: published 1 message(s) to outbox {tmp_path}/outbox.jsonl; "
        f"state saved to {state_file}\n",
    )
    assert pickle.loads(state_file.read_bytes()) == {"last_utc": "2026-11-27T20:02:00Z"}
    assert other_name.read_bytes() == SAVED and os.stat(state_file).st_nlink == 1


SINK_MISTAKES = {
    "a broker URL with no port": (
        {"STATEFUL_COLLECTORS_AMQP_URL": "amqp://:::"},
        "[outbox]\npath = {tmp}/outbox.jsonl\n",
        3,
    ),
    "an outbox path through a device": ({}, "[outbox]\npath = /dev/null/x/outbox.jsonl\n", 4),
}


@pytest.mark.parametrize("mistake", SINK_MISTAKES)
def test_a_two_phase_collector_checks_its_sink_before_it_asks_the_source(
    mistake: str, tmp_path: Path
) -> None:
    """The rows collector fetches before it publishes: a wrong sink stops it before the fetch."""
    env, sections, status = SINK_MISTAKES[mistake]
    feed = CountingFeed(history=3, start="2026-11-27T20:00:00Z")
    with feed.serve() as server:
        config = tmp_path / "rows.conf"
        config.write_text(
            f"[demo_csv_collector]\nstate_dir = {tmp_path}/state\nurl = {server.url}/items.csv\n"
            + sections.replace("{tmp}", str(tmp_path))
        )
        result = subprocess.run(
            [*CLI, "run", f"{EXAMPLES}/time_ordered_rows_collector.py:DemoCsvCollector"]
            + ["--config", str(config)],
            cwd=tmp_path,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    print(f"two-phase, {mistake}: exit {result.returncode}, source asked {feed.requests} time(s)")
    assert result.returncode == status, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert feed.requests == 0, "the source was asked before the sink was checked"
    assert not list((tmp_path / "state").glob("*.pickle"))
