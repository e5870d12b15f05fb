r"""Every code block of the guide, the README and the library's docstrings, tested.

How to write a page (or a docstring) so that these tests pass
=============================================================

Python blocks
-------------
* Every ```python block is linted with ruff (the project's rules from
  pyproject.toml), must be formatted as `ruff format` would (docstring
  examples may keep their quotes), and is run; what it prints is checked
  against the `#>` lines right under each `print(...)`:

      ```python
      print(sorted({"b", "a"}))
      #> ['a', 'b']
      ```

  A loop may print, but with one `print` call per pass: the `#>` lines of
  each call are gathered under it (`print(a, b, sep="\n")` prints two lines).
  Blocks run one at a time, each in a fresh module named `__main__`, in an
  empty temporary working directory; `examples/` is importable (so a block can
  `from my_statefull_collector import MyStatefullCollector`). Start a demo
  feed or a temporary state dir inside the block itself.
* Settings go in braces after the language (MkDocs renders this form and
  drops the settings; the built-site test checks they never show):

      ```python {test="skip: needs a RabbitMQ broker on localhost"}

  `test="skip: <reason>"` is the only way to not run a block, and the reason
  is required; a bare `test="skip"` fails. Settings outside braces
  (```python test="...") fail too: MkDocs would not render that fence.
* Only ```python runs. Any other Python-ish fence (```py, ```python3,
  ```pycon, ```pytb, ~~~python...) fails unless skipped with a reason; use
  ```text for output that no code printed.
* Long programs live once in `examples/*.py` and are included with
  pymdownx.snippets, as a block holding only the include line:

      ```python {title="my_statefull_collector.py"}
      --8<-- "examples/my_statefull_collector.py"
      ```

  Such a block is not run here: the file must be one of the programs that
  `test_examples.py` runs as a process (`EXAMPLE_PROGRAMS`), and this test
  checks that it is.

Console transcripts
-------------------
* A ```console block is a transcript: `$ command` lines (continued by a
  trailing `\`), each followed by what it printed. Every transcript of a page
  is replayed, in order, in one sandbox per page: a temporary `~/tutorial`
  directory (HOME is its parent) holding copies of `examples/*.py` and
  `examples/*.conf`, with the venv's `stateful-collectors` and `python` first
  on PATH. Each command runs with `bash -c`; stdout and stderr are compared
  together, after this normalisation: the sandbox's home -> `/home/you`; the
  feed's real port -> 8808 and the broker's -> 5672 (and back, in commands and
  copied config files); `"timestamp": <seconds>` -> a fixed time; backup time
  stamps and `pid N` -> fixed values; blanks at line ends ignored.
* A command must exit 0. To show a failing one, append
  `; echo "exit status: $?"` and show that line too.
* `stateful-collectors demo-feed ...` serves until stopped: it is started in
  the background on a free port (shown as 8808) and only the lines shown under
  it are checked; it stops when the page's last transcript has run. Start the
  feed with a fixed `--start` (and `--interval 0`), so item times are the same
  on every run.
* A transcript that needs RabbitMQ says so: ```console {needs="rabbitmq"}. The
  session's test broker is then started (the `broker` fixture; without one the
  page's remaining transcripts are skipped with the reason) and the queues the
  page declared are deleted when it ends. A transcript can also be skipped:
  ```console {test="skip: <reason>"}.
* Commands that must not run in the tests (`uv run mkdocs serve`, crontab
  lines) go in ```bash, ```ini or ```text blocks, which are not run.

Updating what the pages show
----------------------------
`uv run pytest tests/docs --update-docs` rewrites, in place, the `#>` lines of
python blocks and the outputs of console transcripts from what actually ran.
Review the diff before committing it.

Counting
--------
The run ends with a line such as
`docs blocks: 41 ran, 2 skipped (with reasons), 3 included from examples/`
and `console transcripts: 25 commands replayed on 4 page(s)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from fences import PYTHONISH, ROOT, FenceInfo, doc_sources, iter_fences, relative, snippet_targets
from pytest_examples import CodeExample, EvalExample, find_examples, run_code
from pytest_examples.config import ExamplesConfig
from pytest_examples.lint import FormatError, code_diff, ruff_check
from ruff.__main__ import find_ruff_bin
from test_examples import EXAMPLE_PROGRAMS
from transcripts import (
    PENDING_UPDATES,
    PendingUpdate,
    TranscriptError,
    pages_with_transcripts,
    replay,
    sandbox_at,
    transcripts_of,
)

_PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
LINE_LENGTH: int = _PYPROJECT.get("line-length", 88)
RUFF_SELECT: list[str] = _PYPROJECT.get("lint", {}).get("select", [])
RUFF_IGNORE: list[str] = _PYPROJECT.get("lint", {}).get("ignore", [])
TARGET_VERSION = "py312"


def _all_blocks() -> list[CodeExample]:
    blocks = []
    for path in doc_sources():
        blocks.extend(find_examples(path))
    return blocks


BLOCKS = _all_blocks()


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


# ---------------------------------------------------------------- python blocks


class PrintLines(run_code.InsertPrintStatements):
    """`#>` before every line of what a print wrote, also when it wrote several lines.

    pytest-examples writes multi-line output as a triple-quoted string instead;
    a column of `#>` lines reads better in a guide, so pages and docstrings use
    it everywhere. (Overrides one private method of pytest-examples 0.0.18.)
    A blank line inside multi-line output is not supported: print it otherwise.
    """

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


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks run in an empty directory; `__main__` is restored after each."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setattr(run_code, "InsertPrintStatements", PrintLines)


@pytest.mark.parametrize("example", BLOCKS, ids=block_id)
def test_python_block(
    example: CodeExample,
    eval_example: EvalExample,
    request: pytest.FixtureRequest,
    in_empty_dir: None,
) -> None:
    where = block_id(example)
    info = fence_info(example)
    if info.problems:
        pytest.fail(f"{where}: {'; '.join(info.problems)}", pytrace=False)
    test = info.settings.get("test")
    if test is not None:
        reason = test.removeprefix("skip:").strip() if test.startswith("skip:") else ""
        if not reason:
            pytest.fail(
                f'{where}: test="{test}" is not allowed; write test="skip: <reason>" '
                "with the reason this block cannot run",
                pytrace=False,
            )
        pytest.skip(f"{where}: {reason}")
    if info.language != "python":
        pytest.fail(
            f"{where}: ```{info.language} blocks are not run; write ```python (it runs), "
            'or keep it and add {test="skip: <reason>"}',
            pytrace=False,
        )
    targets = snippet_targets(example.source)
    if targets is not None:
        check_included_programs(where, targets)
        request.node.user_properties.append(("docs_block", "included"))
        return
    eval_example.config = examples_config(example)
    if eval_example.update_examples:
        eval_example.run_print_update(example)
        lint(example)
    else:
        lint(example)
        eval_example.run_print_check(example)


def check_included_programs(where: str, targets: list[str]) -> None:
    for target in targets:
        file_part = target.split(":", 1)[0]
        path = ROOT / file_part
        if path.parent != ROOT / "examples" or not path.is_file():
            pytest.fail(
                f"{where}: a python block includes {target!r}; include only files of examples/",
                pytrace=False,
            )
        if path.name not in EXAMPLE_PROGRAMS:
            pytest.fail(
                f"{where}: {file_part} is included but tests/docs/test_examples.py does not run "
                "it; add it there (EXAMPLE_PROGRAMS) with assertions on what it does",
                pytrace=False,
            )


def test_every_python_fence_is_tested_and_renders() -> None:
    """No Python-ish fence escapes `test_python_block`; no fence has settings MkDocs breaks on."""
    collected = {(example.path.resolve(), example.start_line) for example in BLOCKS}
    problems = []
    for path in doc_sources():
        for fence in iter_fences(path):
            if fence.info.problems:
                problems.append(f"{fence.where}: {'; '.join(fence.info.problems)}")
            if fence.info.language in PYTHONISH and (path.resolve(), fence.line) not in collected:
                problems.append(
                    f"{fence.where}: ```{fence.info_text} is not seen by the python block test; "
                    "open it with three backticks and a language starting with 'python'"
                )
    assert not problems, "\n".join(problems)


def test_block_discovery_finds_every_source() -> None:
    """The test sees blocks in pages, the README and docstrings (a guard against a silent zero)."""
    kinds = {relative(example.path).split("/")[0] for example in BLOCKS}
    assert {"docs", "README.md", "src"} <= kinds, kinds


# ---------------------------------------------------------------- console transcripts


def _queue_names(broker) -> set[str]:
    output = broker.ctl("list_queues", "--quiet", "--no-table-headers", "name")
    return {line.strip() for line in output.splitlines() if line.strip()}


@pytest.mark.parametrize("page", pages_with_transcripts(), ids=relative)
def test_console_transcripts(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    update = bool(request.config.getoption("update_docs", False))
    try:
        transcripts = transcripts_of(page)
    except TranscriptError as exc:
        transcripts, problem = [], str(exc)
    else:
        problem = None
    if problem:
        pytest.fail(problem, pytrace=False)
    used_broker = []

    def broker_port() -> int | str:
        try:
            broker = request.getfixturevalue("broker")
        except pytest.skip.Exception as exc:
            return str(exc)
        used_broker.append((broker, _queue_names(broker)))
        return broker.port

    result = problem = None
    try:
        with sandbox_at(tmp_path) as sandbox:
            result = replay(transcripts, sandbox, update=update, broker_port=broker_port)
    except TranscriptError as exc:
        problem = f"{relative(page)}: {exc}"
    finally:
        for broker, before in used_broker:
            for queue in _queue_names(broker) - before:
                broker.delete_queue(queue)
    if problem or result is None:
        pytest.fail(problem or "no result", pytrace=False)
    request.node.user_properties.append(("transcript_commands", result.commands_run))
    if update:
        for index, outputs in enumerate(result.outputs):
            commands = [command.text for command in transcripts[index].commands]
            PENDING_UPDATES.append(PendingUpdate(page, index, commands, outputs))
    elif result.differences:
        pytest.fail("\n\n".join(result.differences), pytrace=False)
    if result.stopped:
        pytest.skip(result.stopped)
