"""`run MODULE:CLASS` names something that cannot run: exit 2, one line, nothing done.

A module that calls `sys.exit()` while being imported, and classes that are
no concrete collector (the library's own bases, a class without `raw_type`,
`run()` or `start_publishing()`, an ABC with abstract methods), each run as a
real process of the command.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import clean_env

MODULE = """
import abc
import sys

from stateful_collectors import BaseCollector, BaseTimeOrderedRowsCollector
from stateful_collectors.collectors.base import AbstractBaseCollector, QueuedBase


class NoRawType(BaseCollector):
    pass


class NoRun(AbstractBaseCollector):
    pass


class NoStartPublishing(QueuedBase):
    pass


class Abstract(BaseCollector, metaclass=abc.ABCMeta):
    raw_type = "stream"

    @abc.abstractmethod
    def fetch(self): ...

    def start_publishing(self):
        self.inner_stop()
"""


def run(tmp_path: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stateful_collectors", "run", target],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(
            "import sys\nsys.exit(3)\n",
            "{module} called sys.exit(3) while being imported, so it names no collector; run "
            'its code only under `if __name__ == "__main__":`',
            id="sys.exit(3)",
        ),
        pytest.param(
            "raise SystemExit('usage: exiting.py FILE')\n",
            "{module} called sys.exit('usage: exiting.py FILE') while being imported, so it "
            'names no collector; run its code only under `if __name__ == "__main__":`',
            id="SystemExit with a message",
        ),
    ],
)
def test_a_module_that_exits_while_imported_is_exit_2(tmp_path, code, expected):
    (tmp_path / "exiting.py").write_text(code)
    for target in ("exiting.py:X", "exiting:X"):
        result = run(tmp_path, target)
        assert result.returncode == 2
        module = target.split(":")[0]
        assert result.stderr == f"stateful-collectors run: {expected.format(module=module)}\n"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("BaseCollector", "is one of the library's base classes; run a subclass of your own"),
        (
            "BaseTimeOrderedRowsCollector",
            "is one of the library's base classes; run a subclass of your own",
        ),
        ("NoRawType", "is an abstract base (it sets no raw_type); run a subclass that sets one"),
        ("NoRun", "defines no run(); run a subclass that does"),
        ("NoStartPublishing", "defines no start_publishing(); run a subclass that does"),
        ("Abstract", "is abstract (it lacks fetch); run a concrete subclass"),
    ],
)
def test_a_class_that_is_no_concrete_collector_is_exit_2(tmp_path, name, reason):
    (tmp_path / "bases.py").write_text(textwrap.dedent(MODULE))
    result = run(tmp_path, f"bases.py:{name}")
    assert result.returncode == 2
    assert result.stderr == f"stateful-collectors run: 'bases.py:{name}' {reason}\n"
    assert [path.name for path in tmp_path.iterdir()] in (["bases.py"], ["bases.py", "__pycache__"])
