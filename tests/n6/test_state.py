"""`stateful_collectors.n6.StatefulCollectorMixin`: n6 4.40's state files and its own test cases.

n6's `TestStatefulCollectorMixin` cases where the library's mixin differs:
a `__main__` module and an obsolete `pickle_protocol` attribute refused,
nothing created when a missing state is loaded, `state_pickle_protocol`, and
protocol-2 pickles loaded through `get_py2_pickle_load_kwargs()` and
`adjust_state_from_py2_pickle()`. The Python 2 pickles are the files Python
2.7 wrote (`py2_states/`); when a Python 2.7 is on this machine, it writes
them again and they must be the same bytes.
"""

from __future__ import annotations

import datetime
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest

from stateful_collectors.errors import StateFileError
from stateful_collectors.n6 import BaseCollector, StatefulCollectorMixin, combined_config_spec
from tests.support import clean_env
from tests.support.processes import run_cli

PY2_STATES = Path(__file__).parent / "py2_states"
DEFAULT = "the default state"


class ExampleStatefulCollector(StatefulCollectorMixin, BaseCollector):
    raw_type = "stream"
    config_spec_pattern = combined_config_spec("[{collector_class_name}]\nunrelated = x\n")

    def get_source(self, **processed_data):
        return "example.channel"

    def make_default_state(self):
        return DEFAULT


def make(state_dir: Path, **kwargs) -> ExampleStatefulCollector:
    return ExampleStatefulCollector(
        config_text=f"[ExampleStatefulCollector]\nstate_dir = {state_dir}\n", **kwargs
    )


STATE_FILE = f"{__name__}.ExampleStatefulCollector.pickle"


def python_2() -> str | None:
    """A Python 2.7 that runs, if this machine has one."""
    for candidate in (
        os.environ.get("STATEFUL_COLLECTORS_PYTHON2"),
        os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python"),
        shutil.which("python2.7"),
    ):
        if not (candidate and os.access(candidate, os.X_OK)):
            continue
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (2, 7))"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def test_the_python_2_fixtures_are_what_python_2_writes(tmp_path):
    python = python_2()
    if python is None:
        pytest.skip(
            "no Python 2.7 here to write the state files again (install pyenv's 2.7.18, or "
            "set STATEFUL_COLLECTORS_PYTHON2 to a python2.7)"
        )
    subprocess.run([python, str(PY2_STATES / "make_py2_states.py"), str(tmp_path)], check=True)
    for name in ("blocklist.pickle", "events.pickle"):
        assert (tmp_path / name).read_bytes() == (PY2_STATES / name).read_bytes(), name
        assert (tmp_path / name).read_bytes()[:2] == b"\x80\x02"


def test_the_state_file_name_is_n6s_and_a_main_module_is_refused(tmp_path, monkeypatch):
    collector = make(tmp_path)
    assert collector.get_state_file_name() == STATE_FILE
    monkeypatch.setattr(ExampleStatefulCollector, "__module__", "__main__")
    with pytest.raises(
        ValueError,
        match=r"^'__main__' is not the proper name of the module containing ExampleStateful",
    ):
        make(tmp_path)


def test_an_obsolete_pickle_protocol_attribute_is_refused():
    with pytest.raises(
        TypeError, match=r"unsupported attributes .* set to non-None values: 'pickle_protocol'"
    ):

        class SomeSubclass(ExampleStatefulCollector):
            pickle_protocol = 3


def test_n6s_default_state_dir_is_n6state_in_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    collector = ExampleStatefulCollector(config_text="[ExampleStatefulCollector]\n")
    assert collector.state_file_path == tmp_path / ".n6state" / STATE_FILE


@pytest.mark.parametrize("existing_dir", [True, False])
def test_loading_a_missing_state_creates_nothing(tmp_path, existing_dir, caplog):
    state_dir = tmp_path / ".n6state"
    if existing_dir:
        state_dir.mkdir(mode=0o700)
    collector = make(state_dir)
    assert collector.load_state() == DEFAULT
    assert (os.listdir(state_dir) == []) if existing_dir else not state_dir.exists()
    assert f"state file {state_dir / STATE_FILE} not found" in caplog.text
    collector.save_state(["saved"])
    assert collector.load_state() == ["saved"]
    assert sorted(os.listdir(state_dir)) == [STATE_FILE, f"{STATE_FILE}.lock"]  # and the lock
    collector.close()


@pytest.mark.parametrize("protocol", [None, 2, 3, 4])
def test_state_pickle_protocol(tmp_path, protocol):
    kwargs = {} if protocol is None else {"state_pickle_protocol": protocol}
    collector = make(tmp_path, **kwargs)
    state = {"now": datetime.datetime(2022, 8, 25, 15, 8, 47, 787810), "ids": {1, 2}}
    collector.save_state(state)
    data = (tmp_path / STATE_FILE).read_bytes()
    assert data[:2] == bytes([0x80, protocol or pickle.HIGHEST_PROTOCOL])
    assert collector.load_state() == state  # protocol 2 through the Python 2 hooks: same state
    collector.close()


PY3_DATETIME = {"now": datetime.datetime(2022, 8, 25, 15, 8, 47, 787810)}


@pytest.mark.parametrize(
    ("name", "load_kwargs", "adjust", "expected"),
    [
        (
            "blocklist.pickle",
            {"encoding": "utf-8", "errors": "surrogateescape"},
            None,
            {
                "newest_row_time": "2026-11-27 20:01:00",
                "rows_count": 3,
                "newest_rows": {
                    "2026-11-27 20:01:00,b2.example,low",
                    "2026-11-27 20:01:00,b1-żółw.example,low",
                },
            },
        ),
        (
            "blocklist.pickle",
            {"encoding": "bytes"},
            None,
            {
                b"newest_row_time": b"2026-11-27 20:01:00",
                b"rows_count": 3,
                b"newest_rows": {
                    b"2026-11-27 20:01:00,b2.example,low",
                    "2026-11-27 20:01:00,b1-żółw.example,low".encode(),
                },
            },
        ),
        (
            "events.pickle",
            {"encoding": "latin1"},
            None,
            {
                "lastEventId": 1,
                "attachmentsDone": [11],
                "savedAt": datetime.datetime(2020, 1, 2, 3, 4, 5, 678901),
            },
        ),
        (
            "events.pickle",
            {"encoding": "latin1"},
            lambda state: sorted(state),
            ["attachmentsDone", "lastEventId", "savedAt"],
        ),
    ],
)
def test_a_python_2_state_loads_through_the_hooks(
    tmp_path, monkeypatch, caplog, name, load_kwargs, adjust, expected
):
    shutil.copy(PY2_STATES / name, tmp_path / STATE_FILE)
    collector = make(tmp_path)
    monkeypatch.setattr(collector, "get_py2_pickle_load_kwargs", lambda: load_kwargs)
    if adjust is not None:
        monkeypatch.setattr(collector, "adjust_state_from_py2_pickle", adjust)
    assert collector.load_state() == expected
    assert "loading a state pickled by Python 2" in caplog.text
    collector.close()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            (PY2_STATES / "events.pickle").read_bytes(),
            "a state pickled by Python 2 that pickle.load(**{'encoding': 'ascii', 'errors': "
            "'strict'}) cannot load (UnicodeDecodeError: ",
        ),
        (b"xyz1234567890", "its first two bytes are not those of a pickle of protocol 2 or newer"),
        (
            pickle.dumps([1], protocol=1),
            "its first two bytes are not those of a pickle of protocol 2 or newer",
        ),
        (b"\x80\x02xyz", "a state pickled by Python 2 that pickle.load("),
        (b"\x80\x04xyz", "cannot be decoded as pickle (UnpicklingError"),
        (b"", "is empty"),
    ],
)
def test_a_state_file_the_library_cannot_take_is_one_line_and_left_alone(tmp_path, data, problem):
    (tmp_path / STATE_FILE).write_bytes(data)
    collector = make(tmp_path)
    with pytest.raises(StateFileError) as caught:
        collector.load_state()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"state file {tmp_path / STATE_FILE} ")
    assert problem in message
    assert "it was left untouched" in message
    assert (tmp_path / STATE_FILE).read_bytes() == data
    collector.close()


def test_a_run_stops_with_exit_4_on_a_state_file_it_cannot_take(tmp_path):
    home = tmp_path / "home"
    state_dir = home / ".n6state"
    state_dir.mkdir(parents=True, mode=0o700)
    state_file = state_dir / "tests.n6.shaped.EntriesApiCollector.pickle"
    state_file.write_bytes(b"not a pickle at all")
    config = tmp_path / "c.conf"
    config.write_text(
        "[EntriesApiCollector]\nurl = http://127.0.0.1:9/\ntoken = t\n\n"
        f"[outbox]\npath = {tmp_path / 'o.jsonl'}\n"
    )
    result = run_cli(
        "run",
        "tests.n6.shaped:EntriesApiCollector",
        "--config",
        str(config),
        env=clean_env(HOME=str(home)),
    )
    assert result.returncode == 4
    assert result.stderr_lines == [
        f"EntriesApiCollector: failed: state file {state_file} cannot be decoded as pickle "
        "(ValueError: its first two bytes are not those of a pickle of protocol 2 or newer, which "
        "is all n6 and this library write); it was left untouched: restore it from a backup or "
        "run 'stateful-collectors state reset tests.n6.shaped:EntriesApiCollector --config "
        f"{config}' to start over "
        "(a backup is kept); nothing published; state not saved (the next run starts from the "
        "previous state)"
    ]
    assert state_file.read_bytes() == b"not a pickle at all"
    assert not (tmp_path / "o.jsonl").exists()
