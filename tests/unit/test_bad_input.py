"""Bad input, in the state file and in the configuration: one exact error line, nothing changed.

Every case prepares real files in a temporary directory, triggers the error
the way a run would (`load_state()` for the state file, building the collector
for its configuration), and checks the exact message and that no file changed:
same bytes, same mtime, same mode, nothing added or removed. The one file a
run may write before loading its state is its lock file, and only that one is
left out of the comparison.

A few cases also go through the `stateful-collectors run` command, the natural
entry point for a person: exit status, and one line on stderr without a
traceback that carries the same message.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import stat
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from my_statefull_collector import MyStatefullCollector

from stateful_collectors.collectors.base import AbstractBaseCollector
from stateful_collectors.errors import ConfigError, ConfigSpecError, ExitStatus, StateFileError
from stateful_collectors.state import StatefulCollectorMixin
from tests.support import EXAMPLES
from tests.support.processes import run_cli


def target_of(cls: type) -> str:
    """The MODULE:CLASS a reset hint names: this module by its dotted name, `tests.unit....`.

    (A module of a package is named by its import name; a top-level module whose
    file is elsewhere, by its path: see the command-line cases at the end.)
    """
    assert cls.__module__ == __name__ == "tests.unit.test_bad_input"
    return f"{__name__}:{cls.__qualname__}"


EXAMPLE = EXAMPLES / "my_statefull_collector.py"

GOOD_PICKLE = pickle.dumps({"last_utc": "2026-11-27T20:04:00Z"}, protocol=5)


class Collector(StatefulCollectorMixin, AbstractBaseCollector):
    config_spec = """
        [bad_input]
        state_dir :: path
    """


class JsonCollector(Collector):
    state_codec = "json"


class VersionedCollector(Collector):
    state_version = 2


class MigratingCollector(Collector):
    state_version = 2

    def migrate_state(self, state, from_version):
        return {"migrated_from": from_version, **state}


def snapshot(directory: Path) -> dict[str, tuple]:
    """Everything under `directory` (without following links or opening FIFOs)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        key = str(path.relative_to(directory))
        if stat.S_ISREG(info.st_mode):
            found[key] = ("file", path.read_bytes(), info.st_mtime_ns, info.st_mode, info.st_uid)
        elif stat.S_ISLNK(info.st_mode):
            found[key] = ("link", os.readlink(path), info.st_mtime_ns)
        elif stat.S_ISDIR(info.st_mode):
            found[key] = ("dir", info.st_mode, info.st_uid)  # a new lock file changes its mtime
        else:
            found[key] = ("other", info.st_mtime_ns, info.st_mode)
    return found


def without_lock_files(found: dict[str, tuple]) -> dict[str, tuple]:
    return {key: value for key, value in found.items() if not key.endswith(".lock")}


# ---------------------------------------------------------------- the state file


@dataclasses.dataclass
class StateCase:
    """A damaged or unsafe state file, and the exact error `load_state()` must raise."""

    id: str
    prepare: Callable[[Path], None]  # gets the state file's path; makes the bad file
    expected: str  # with {file}, {dir}, {name}, {hint} and {uid} filled in
    cls: type = Collector
    needs_root: bool = False


def write(content: bytes, mode: int = 0o600) -> Callable[[Path], None]:
    def prepare(path: Path) -> None:
        path.write_bytes(content)
        os.chmod(path, mode)

    return prepare


def symlink_to_a_good_file(path: Path) -> None:
    real = path.with_name("elsewhere.pickle")
    write(GOOD_PICKLE)(real)
    path.symlink_to(real)


def good_file_in_open_dir(mode: int) -> Callable[[Path], None]:
    def prepare(path: Path) -> None:
        write(GOOD_PICKLE)(path)
        os.chmod(path.parent, mode)

    return prepare


def good_file_owned_by_someone_else(path: Path) -> None:
    write(GOOD_PICKLE)(path)
    os.chown(path, 4242, 4242)


def state_dir_is_a_file(path: Path) -> None:
    directory = path.parent
    directory.rmdir()
    directory.write_text("not a directory\n")


def versioned(version, state) -> bytes:
    return pickle.dumps({"state_version": version, "state": state}, protocol=5)


def pickle_of_a_missing_module() -> bytes:
    """A pickle of an object whose class lives in a module that no longer exists."""
    module = types.ModuleType("gone_module_")

    class Thing:
        pass

    Thing.__module__, Thing.__qualname__ = "gone_module_", "Thing"
    module.Thing = Thing
    sys.modules["gone_module_"] = module
    try:
        return pickle.dumps(Thing(), protocol=5)
    finally:
        del sys.modules["gone_module_"]


DAMAGED = (
    "state file {file} {problem}; it was left untouched: restore it from a backup or "
    "run '{hint}' to start over (a backup is kept)"
)

STATE_CASES = [
    StateCase("empty file", write(b""), DAMAGED.replace("{problem}", "is empty")),
    StateCase(
        "truncated pickle",
        write(GOOD_PICKLE[:-5]),
        DAMAGED.replace(
            "{problem}", "cannot be decoded as pickle (UnpicklingError: pickle data was truncated)"
        ),
    ),
    StateCase(
        "garbage bytes",
        write(b"\x00\xff garbage \x13\x37" * 10),
        DAMAGED.replace(
            "{problem}", "cannot be decoded as pickle (UnpicklingError: invalid load key, '\\x00'.)"
        ),
    ),
    StateCase(
        "pickle naming a missing module",
        write(pickle_of_a_missing_module()),
        DAMAGED.replace(
            "{problem}",
            "cannot be decoded as pickle (ModuleNotFoundError: No module named 'gone_module_')",
        ),
    ),
    StateCase(
        "JSON codec reading a pickle file",
        write(GOOD_PICKLE),
        DAMAGED.replace(
            "{problem}",
            "cannot be decoded as json (UnicodeDecodeError: 'utf-8' codec can't decode byte "
            "0x80 in position 0: invalid start byte)",
        ),
        cls=JsonCollector,
    ),
    StateCase(
        "truncated JSON",
        write(b'{"last_utc": "2026-11'),
        DAMAGED.replace(
            "{problem}",
            "cannot be decoded as json (JSONDecodeError: Unterminated string starting at: "
            "line 1 column 14 (char 13))",
        ),
        cls=JsonCollector,
    ),
    StateCase(
        "state file is a symlink",
        symlink_to_a_good_file,
        "state file {file} is a symlink; replace it by the real file "
        "(a collector never follows a link to its state file)",
    ),
    StateCase(
        "state file is a FIFO",
        lambda path: os.mkfifo(path, 0o600),
        "state file {file} is not a regular file; move it away so the collector can write its own",
    ),
    StateCase(
        "state file is a directory",
        lambda path: path.mkdir(mode=0o700),
        "state file {file} is not a regular file; move it away so the collector can write its own",
    ),
    StateCase(
        "group-writable state file",
        write(GOOD_PICKLE, 0o620),
        "state file {file} is writable by group or others (mode 0620); fix with: chmod 600 {file}",
    ),
    StateCase(
        "world-writable state file",
        write(GOOD_PICKLE, 0o646),
        "state file {file} is writable by group or others (mode 0646); fix with: chmod 600 {file}",
    ),
    StateCase(
        "world-writable state dir",
        good_file_in_open_dir(0o777),
        "state dir {dir} is writable by group or others (mode 0777), so anyone could replace "
        "{name}; fix with: chmod go-w {dir}",
    ),
    StateCase(
        "group-writable state dir",
        good_file_in_open_dir(0o770),
        "state dir {dir} is writable by group or others (mode 0770), so anyone could replace "
        "{name}; fix with: chmod go-w {dir}",
    ),
    StateCase(
        "state dir is a regular file",
        state_dir_is_a_file,
        "state dir {dir} is not a directory (it is a regular file); point state_dir at a directory",
    ),
    StateCase(
        "state file of another user",
        good_file_owned_by_someone_else,
        "state file {file} belongs to uid 4242, not to this user (uid {uid}); "
        "run the collector as its owner or chown the file",
        needs_root=True,
    ),
    StateCase(
        "newer state_version",
        write(versioned(3, {"last_utc": None})),
        "state file {file} has state version 3, newer than VersionedCollector's 2; "
        "run the newer collector version that wrote it",
        cls=VersionedCollector,
    ),
    StateCase(
        "state_version that is not a number",
        write(versioned("2b", {"last_utc": None})),
        "state file {file} has an invalid state version '2b' (not a whole number); it was left "
        "untouched: restore it from a backup or reset the state",
        cls=VersionedCollector,
    ),
    StateCase(
        "older state_version and no migrate_state",
        write(versioned(1, {"last_utc": None})),
        "state file {file} has state version 1 but VersionedCollector expects 2 and defines "
        "no migrate_state(); add one, or reset the state",
        cls=VersionedCollector,
    ),
]


def make_collector(cls: type, state_dir: Path):
    return cls(config_text=f"[bad_input]\nstate_dir = {state_dir}\n")


@pytest.mark.parametrize("case", STATE_CASES, ids=[case.id for case in STATE_CASES])
def test_a_bad_state_file_gets_one_exact_error_and_stays_untouched(case, tmp_path):
    if case.needs_root and os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root (os.chown)")
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    collector = make_collector(case.cls, state_dir)
    case.prepare(collector.state_file_path)
    before = snapshot(tmp_path)

    with pytest.raises(StateFileError) as raised:
        collector.load_state()
    collector.close()

    expected = case.expected.format(
        file=collector.state_file_path,
        dir=state_dir,
        name=collector.state_file_path.name,
        hint=f"stateful-collectors state reset {target_of(case.cls)}",
        uid=os.geteuid(),
    )
    assert str(raised.value) == expected
    assert "\n" not in str(raised.value)
    assert without_lock_files(snapshot(tmp_path)) == without_lock_files(before)


def test_a_migrated_state_is_not_written_back_by_loading(tmp_path):
    """The counterpart of the version cases: loading an old version migrates in memory only."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    collector = make_collector(MigratingCollector, state_dir)
    write(versioned(1, {"last_utc": None}))(collector.state_file_path)
    before = snapshot(tmp_path)
    assert collector.load_state() == {"migrated_from": 1, "last_utc": None}
    collector.close()
    assert without_lock_files(snapshot(tmp_path)) == without_lock_files(before)


# ---------------------------------------------------------------- the configuration


SPEC = """
    [bad_input_feed]
    state_dir :: path
    url :: str
    timeout = 30 :: int
    ratio = 0.5 :: float
    verify = yes :: bool
    since = 2026-11-27T20:00:00Z :: datetime
    headers = {} :: json
"""
KNOWN = "state_dir, url, timeout, ratio, verify, since, headers"
GOOD_LINES = "[bad_input_feed]\nstate_dir = /var/lib/collectors\nurl = http://127.0.0.1/x\n"


class FeedCollector(StatefulCollectorMixin, AbstractBaseCollector):
    config_spec = SPEC


CONFIG_CASES = [
    (
        "missing section",
        "[other]\nstate_dir = /tmp/x\n",
        "{conf}: section [bad_input_feed] is missing; add it with the options: state_dir, url",
    ),
    (
        "missing required option",
        "[bad_input_feed]\nstate_dir = /var/lib/collectors\n",
        "{conf}: [bad_input_feed] option 'url' is required (str); add a line 'url = ...'",
    ),
    (
        "unknown option, with a hint",
        GOOD_LINES + "timout = 10\n",
        "{conf}: [bad_input_feed] unknown option 'timout' (did you mean 'timeout'?); "
        f"known options: {KNOWN}",
    ),
    (
        "unknown option, no close match",
        GOOD_LINES + "colour = blue\n",
        f"{{conf}}: [bad_input_feed] unknown option 'colour'; known options: {KNOWN}",
    ),
    (
        "bad int",
        GOOD_LINES + "timeout = 10s\n",
        "{conf}: [bad_input_feed] option 'timeout' = '10s': the value is not a whole number; "
        "write e.g. 30 (the default)",
    ),
    (
        "bad float",
        GOOD_LINES + "ratio = half\n",
        "{conf}: [bad_input_feed] option 'ratio' = 'half': the value is not a number; "
        "write e.g. 0.5 (the default)",
    ),
    (
        "bad bool",
        GOOD_LINES + "verify = perhaps\n",
        "{conf}: [bad_input_feed] option 'verify' = 'perhaps': the value is not a yes/no value; "
        "write true or false",
    ),
    (
        "bad datetime",
        GOOD_LINES + "since = yesterday\n",
        "{conf}: [bad_input_feed] option 'since' = 'yesterday': the value is not an ISO 8601 "
        "date-time; write e.g. 2026-11-27T20:00:00Z (the default)",
    ),
    (
        "bad json",
        GOOD_LINES + "headers = {'Accept': 'x'}\n",
        "{conf}: [bad_input_feed] option 'headers' = \"{'Accept': 'x'}\": the value is not valid "
        "JSON (Expecting property name enclosed in double quotes at character 1)",
    ),
    (
        "empty path",
        "[bad_input_feed]\nstate_dir =\nurl = http://127.0.0.1/x\n",
        "{conf}: [bad_input_feed] option 'state_dir' = '': the value is empty; "
        "write a path such as ~/.local/state/collectors",
    ),
    (
        "unparseable line",
        GOOD_LINES + "just some words\n",
        "{conf}: line 4: cannot parse 'just some words'; write 'option = value'",
    ),
    (
        "duplicate option",
        GOOD_LINES + "url = http://127.0.0.1/y\n",
        "{conf}: line 4: [bad_input_feed] option 'url' appears twice; keep one",
    ),
    (
        "duplicate section",
        GOOD_LINES + "[bad_input_feed]\n",
        "{conf}: line 4: section [bad_input_feed] appears twice; merge them",
    ),
    (
        "option before any section",
        "url = http://127.0.0.1/x\n" + GOOD_LINES,
        "{conf}: line 1: 'url = http://127.0.0.1/x' comes before any [section] header",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in CONFIG_CASES],
    ids=[case[0] for case in CONFIG_CASES],
)
def test_a_bad_config_file_gets_one_exact_error_and_stays_untouched(text, expected, tmp_path):
    conf = tmp_path / "collector.conf"
    conf.write_text(text)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as raised:
        FeedCollector(config_file=str(conf))
    assert str(raised.value) == expected.replace("{conf}", str(conf))
    assert snapshot(tmp_path) == before


def test_a_missing_config_file(tmp_path):
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as raised:
        FeedCollector(config_file=str(tmp_path / "nowhere.conf"))
    assert str(raised.value) == (
        f"{tmp_path / 'nowhere.conf'}: config file not found; check the path or create the file"
    )
    assert snapshot(tmp_path) == before


def test_a_config_file_that_is_not_utf8(tmp_path):
    conf = tmp_path / "collector.conf"
    conf.write_bytes(GOOD_LINES.encode() + b"verify = \xe9\n")
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as raised:
        FeedCollector(config_file=str(conf))
    offset = len(GOOD_LINES) + len("verify = ")
    assert str(raised.value) == (
        f"{conf}: config file is not UTF-8 text (byte {offset}); re-save it as UTF-8"
    )
    assert snapshot(tmp_path) == before


SPEC_CASES = [
    (
        "unknown converter",
        "[feed]\nstate_dir :: path\ntimeout :: integer\n",
        "BadSpec.config_spec line 3: unknown converter 'integer' "
        "(known: bool, datetime, float, int, json, list_of_str, path, positive_int, seconds, "
        "str)",
    ),
    (
        "option before section",
        "state_dir :: path\n[feed]\n",
        "BadSpec.config_spec line 1: 'state_dir :: path' comes before any [section]; "
        "start the spec with one",
    ),
    (
        "no section at all",
        "# only a comment\n",
        "BadSpec.config_spec: declares no [section]; add one, e.g. [my_collector]",
    ),
    (
        "not an option name",
        "[feed]\nstate dir :: path\n",
        "BadSpec.config_spec line 2: 'state dir' is not an option name; "
        "write 'name :: converter' or 'name = default :: converter'",
    ),
    (
        "option declared twice",
        "[feed]\nurl :: str\nurl = x :: str\n",
        "BadSpec.config_spec line 3: option 'url' is declared twice",
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [case[1:] for case in SPEC_CASES], ids=[case[0] for case in SPEC_CASES]
)
def test_an_unparseable_config_spec_gets_one_exact_error(spec, expected, tmp_path):
    class BadSpec(AbstractBaseCollector):
        config_spec = spec

    BadSpec.__qualname__ = "BadSpec"
    before = snapshot(tmp_path)
    with pytest.raises(ConfigSpecError) as raised:
        BadSpec(config_text="[feed]\n")
    assert str(raised.value) == expected
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- through the command line


def example_config(tmp_path: Path, state_dir: Path, extra: str = "") -> Path:
    conf = tmp_path / "collector.conf"
    conf.write_text(
        f"[my_statefull_collector]\nstate_dir = {state_dir}\n"
        f"url = http://127.0.0.1:9/items.json\n{extra}"
        f"[outbox]\npath = {tmp_path / 'outbox.jsonl'}\n"
    )
    return conf


CLI_STATE_CASES = [case for case in STATE_CASES if case.cls is Collector and not case.needs_root]
CLI_STATE_CASES = [
    case
    for case in CLI_STATE_CASES
    if case.id
    in ("empty file", "garbage bytes", "state file is a symlink", "world-writable state dir")
]


@pytest.mark.parametrize("case", CLI_STATE_CASES, ids=[case.id for case in CLI_STATE_CASES])
def test_the_run_command_reports_a_bad_state_file_in_one_line(case, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    conf = example_config(tmp_path, state_dir)
    in_process = MyStatefullCollector(config_file=str(conf))
    case.prepare(in_process.state_file_path)
    with pytest.raises(StateFileError) as raised:  # the exact message, as asserted above
        in_process.load_state()
    in_process.close()
    before = snapshot(tmp_path)

    result = run_cli("run", f"{EXAMPLE}:MyStatefullCollector", "--config", str(conf), cwd=tmp_path)

    assert result.returncode == ExitStatus.STATE_ERROR
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    # The same message; a reset hint names the collector as seen from the cwd (here, by path).
    expected = re.sub(
        r"state reset \S+:MyStatefullCollector",
        f"state reset {EXAMPLE}:MyStatefullCollector",
        str(raised.value),
    )
    assert expected in result.stderr
    assert without_lock_files(snapshot(tmp_path)) == without_lock_files(before)
    assert not (tmp_path / "outbox.jsonl").exists()  # it stopped before fetching or publishing


@pytest.mark.parametrize(
    ("extra", "config_name", "expected"),
    [
        pytest.param(
            "",
            "nowhere.conf",
            "{conf}: config file not found; check the path or create the file",
            id="config file missing",
        ),
        pytest.param(
            "urll = http://127.0.0.1:9/\n",
            "collector.conf",
            "{conf}: [my_statefull_collector] unknown option 'urll' (did you mean 'url'?); "
            "known options: state_dir, url, download_timeout, download_max_bytes",
            id="unknown option",
        ),
        pytest.param(
            "url = http://127.0.0.1:9/again\n",
            "collector.conf",
            "{conf}: line 4: [my_statefull_collector] option 'url' appears twice; keep one",
            id="duplicate option",
        ),
    ],
)
def test_the_run_command_reports_a_bad_config_in_one_line(extra, config_name, expected, tmp_path):
    state_dir = tmp_path / "state"
    example_config(tmp_path, state_dir, extra)
    conf = tmp_path / config_name
    before = snapshot(tmp_path)

    result = run_cli("run", f"{EXAMPLE}:MyStatefullCollector", "--config", str(conf), cwd=tmp_path)

    assert result.returncode == ExitStatus.CONFIG_ERROR
    assert result.stdout == ""
    assert result.stderr == f"MyStatefullCollector: {expected.replace('{conf}', str(conf))}\n"
    assert snapshot(tmp_path) == before
    assert not state_dir.exists()
