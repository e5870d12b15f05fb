"""Python blocks of the guide, the README and the docstrings: found, linted, run, checked.

`test_docs.py` runs each block with pytest-examples; this module holds what
it needs: the list of blocks, their ids and fence settings, the ruff checks
with the project's rules, the `#>` print lines, and the check that a block
including a file of examples/ includes a tested program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import tomllib

import pytest
from pytest_examples import CodeExample, find_examples, run_code
from pytest_examples.config import ExamplesConfig
from pytest_examples.lint import FormatError, code_diff, ruff_check
from ruff.__main__ import find_ruff_bin

from tests.support import EXAMPLES, ROOT, example_test_file
from tests.support.docs.fences import FenceInfo, doc_sources, relative

_PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
LINE_LENGTH: int = tomllib.loads((EXAMPLES / "ruff.toml").read_text())["line-length"]
"""The width of the guide's code: examples/ruff.toml's, which a code box holds at 1280 px."""
RUFF_SELECT: list[str] = _PYPROJECT.get("lint", {}).get("select", [])
RUFF_IGNORE: list[str] = _PYPROJECT.get("lint", {}).get("ignore", [])
TARGET_VERSION = "py312"

__all__ = [
    "BLOCKS",
    "PrintLines",
    "block_id",
    "check_included_programs",
    "examples_config",
    "fence_info",
    "lint",
]


def _all_blocks() -> list[CodeExample]:
    blocks = []
    for path in doc_sources():
        blocks.extend(find_examples(path))
    return blocks


BLOCKS = _all_blocks()
"""Every python block pytest-examples finds in the pages, the README and the library."""


def block_id(example: CodeExample) -> str:
    return f"{relative(example.path)}:{example.start_line}-{example.end_line}"


def fence_info(example: CodeExample) -> FenceInfo:
    """The fence's info string as written (pytest-examples lower-cases its copy)."""
    line = example.path.read_text(encoding="utf-8").splitlines()[example.start_line - 1]
    return FenceInfo.parse(line.strip().lstrip("`~"))


def examples_config(example: CodeExample) -> ExamplesConfig:
    line_length = LINE_LENGTH - example.indent
    return ExamplesConfig(
        line_length=line_length,
        target_version=TARGET_VERSION,  # type: ignore[arg-type]
        ruff_line_length=line_length,
        ruff_select=RUFF_SELECT,
        ruff_ignore=RUFF_IGNORE,
    )


_PRINTED_LINE_RE = re.compile(r"^ *#>( |$)")
"""A `#>` line: what a print above it wrote."""


class PrintLines(run_code.InsertPrintStatements):
    """`#>` lines written from what ran, and only from that; one per line printed.

    pytest-examples writes multi-line output as a triple-quoted string instead;
    a column of `#>` lines reads better in a guide, so pages and docstrings use
    it everywhere. A blank line inside multi-line output is not supported:
    print it otherwise.

    pytest-examples also rewrites only the `#>` lines under the prints that
    ran, so a stale `#>` line under a print that never ran (or under a
    statement that prints nothing) would pass. Here every `#>` line of the
    block is dropped and the lines are written again from the prints that
    ran: a `#>` line that no executed print produced makes the block differ
    from the page, and the test fails. (Overrides two private methods of
    pytest-examples 0.0.18.)
    """

    def _insert_print_statements(self, example):
        assert self.print_func is not None, "print statements not being inserted"
        after_line: dict[int, list] = {}
        for statement in self.print_func.statements:
            line_no, col = run_code.find_print_location(example, statement.line_no)
            after_line.setdefault(line_no - 1, []).append((statement, col))
        lines: list[str] = []
        for index, line in enumerate(example.source.splitlines()):
            if _PRINTED_LINE_RE.match(line):
                continue  # written again below, from what ran, or not at all
            lines.append(line)
            for statement, col in after_line.get(index, []):
                printed: list[str] = []
                self._insert_print_args(printed, statement, example.in_py_file(), -1, col)
                lines.extend(printed)
        return "\n".join(lines) + "\n"

    def _insert_print_args(self, lines, statement, in_python, line_index, col):  # noqa: ARG002
        indent = " " * col
        args = [str(arg) for arg in statement.args]
        text = statement.sep.join(args)
        width = self.config.line_length - col - len("#> ")
        if "\n" in text or len(text) > width:
            narrower = dataclasses.replace(self.config, line_length=width)
            text = statement.sep.join(arg.format(narrower).strip("\n") for arg in statement.args)
        for offset, line in enumerate(text.splitlines() or [""]):
            lines.insert(line_index + 1 + offset, f"{indent}#> {line}".rstrip())


def lint(example: CodeExample) -> None:
    """ruff check with the project's rules, then ruff format as a check."""
    config = examples_config(example)
    problem = None
    try:
        with contextlib.chdir(ROOT):  # ruff reads pyproject.toml (isort sections) from here
            ruff_check(example, config, extra_ruff_args=("--output-format=concise",))
    except FormatError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    # `#>` lines would become `# >` (as in black); pytest-examples' own trick avoids that.
    source = re.sub(r"^( *#)>( |$)", r"\1 >\2", example.source, flags=re.M)
    command = [find_ruff_bin(), "format", f"--line-length={config.line_length}"]
    command.append(f"--target-version={TARGET_VERSION}")
    if example.in_py_file():
        # Docstring examples sit inside """...""", so they may keep single quotes.
        command += ["--config", "format.quote-style = 'preserve'"]
    result = subprocess.run(
        [*command, "-"], input=source, capture_output=True, text=True, cwd=ROOT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"ruff format failed on {block_id(example)}:\n{result.stderr}", pytrace=False)
    formatted = re.sub(r"^( *#) >( |$)", r"\1>\2", result.stdout, flags=re.M)
    if formatted != example.source:
        diff = code_diff(example, formatted, config)
        pytest.fail(f"not formatted as `ruff format` would:\n{diff}", pytrace=False)


def check_included_programs(where: str, targets: list[str]) -> None:
    """A block may include only programs of examples/ that have their own test module.

    `examples/NAME.py` is tested by `tests/examples/test_NAME.py` (the layout
    that tests/examples/test_layout.py checks); a page may not show a program
    that nothing runs.
    """
    for target in targets:
        file_part = target.split(":", 1)[0]
        path = ROOT / file_part
        if path.parent != EXAMPLES or path.suffix != ".py" or not path.is_file():
            pytest.fail(
                f"{where}: a python block includes {target!r}; include only programs of "
                "examples/ (examples/NAME.py)",
                pytrace=False,
            )
        tests = example_test_file(path)
        if not tests.is_file():
            pytest.fail(
                f"{where}: {file_part} is included but has no tests: add {relative(tests)} "
                "that runs it, with assertions on what it does",
                pytrace=False,
            )
