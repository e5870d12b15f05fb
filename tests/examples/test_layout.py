"""tests/examples mirrors examples/: each program has one test module, each module a program.

`examples/NAME.py` is tested by `tests/examples/test_NAME.py`, which runs it
and asserts what the guide says it does. The docs tests rely on this layout:
a page may include (pymdownx.snippets) a program of examples/ only if its test
module exists (tests/support/docs/blocks.py, `check_included_programs`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import EXAMPLE_TESTS, EXAMPLES, example_test_file

NOT_A_MIRROR = {"__init__.py", Path(__file__).name}
"""The files of tests/examples that test no program of their own."""

PROGRAMS = sorted(EXAMPLES.glob("*.py"))


def test_examples_has_programs_to_mirror():
    assert len(PROGRAMS) >= 9, PROGRAMS  # a guard against a silent zero


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda path: path.name)
def test_every_program_has_its_test_module(program: Path):
    tests = example_test_file(program)
    assert tests.is_file(), f"examples/{program.name} has no tests: add tests/examples/{tests.name}"
    tree = ast.parse(tests.read_text(encoding="utf-8"))
    test_functions = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    assert test_functions, f"tests/examples/{tests.name} defines no test"
    assert program.stem in tests.read_text(encoding="utf-8"), (
        f"tests/examples/{tests.name} never names {program.stem}: does it run it?"
    )


def test_every_test_module_is_for_a_real_program():
    modules = sorted(path for path in EXAMPLE_TESTS.glob("*.py") if path.name not in NOT_A_MIRROR)
    assert modules, "no test modules found in tests/examples"
    strays = [
        path.name
        for path in modules
        if not (path.name.startswith("test_") and (EXAMPLES / path.name[5:]).is_file())
    ]
    assert not strays, (
        f"{strays}: no such program in examples/ (tests of an example program are named "
        "test_NAME.py after examples/NAME.py; other tests belong in tests/unit or elsewhere)"
    )
