"""Every code block of the guide, the README and the library's docstrings, tested.

* Every ```python block is linted and formatted with the project's ruff rules
  and run; what it prints is checked against its `#>` lines. A block that
  only includes a program of examples/ is not run here: that program must
  have its own tests (tests/examples/test_NAME.py).
* Every ```console block is a transcript, replayed command by command in a
  sandbox, its output compared with the page's.

How to write a page (or a docstring) that passes these tests is a page of the
guide, for its maintainers: docs/about/writing-pages.md ("Writing pages that
pass the docs tests"). The machinery is in tests/support/docs/;
`uv run pytest tests/docs --update-docs` rewrites the pages' outputs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, run_code

from tests.support import ROOT
from tests.support.docs.blocks import (
    BLOCKS,
    PrintLines,
    block_id,
    check_included_programs,
    examples_config,
    fence_info,
    lint,
)
from tests.support.docs.fences import PYTHONISH, doc_sources, iter_fences, relative, snippet_targets
from tests.support.docs.transcripts import (
    DOC_POSTGRESQL_DATABASE,
    PENDING_UPDATES,
    PendingUpdate,
    Sandbox,
    Transcript,
    TranscriptError,
    pages_with_transcripts,
    replay,
    sandbox_at,
    transcripts_of,
)

# ---------------------------------------------------------------- python blocks


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


RESET_PAGE = ROOT / "docs" / "index.md"
RESET_HEADING = "## Your tutorial directory"
"""The one place that shows how to clear the tutorial directory (the reset snippet)."""
RESET_LINK = re.compile(r"\]\((?:\.\./)*index\.md#your-tutorial-directory\)")
"""A link to it: a page that shows it before its first transcript starts afresh."""


def reset_transcript() -> Transcript:
    """The console block under the Introduction's heading 'Your tutorial directory'."""
    text = RESET_PAGE.read_text(encoding="utf-8")
    start = text.index(f"{RESET_HEADING}\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    found = [t for t in transcripts_of(RESET_PAGE) if start <= t.fence.body_start < end]
    assert len(found) == 1, f"docs/index.md: one console block under {RESET_HEADING!r}"
    return found[0]


def starts_afresh(page: Path, transcripts: list[Transcript]) -> bool:
    """Whether the page links to the reset snippet before its first transcript."""
    if page == RESET_PAGE or not transcripts:
        return False
    link = RESET_LINK.search(page.read_text(encoding="utf-8"))
    return link is not None and link.start() < transcripts[0].fence.body_start


def reset(sandbox: Sandbox) -> None:
    """Do what the reset snippet says, as the reader does before such a page."""
    for command in reset_transcript().commands:
        output = sandbox.run(command, update=False)
        if output != command.expected:
            raise TranscriptError(f"the reset snippet printed {output!r}")


def test_the_reset_snippet_is_on_one_page_and_linked() -> None:
    """One page shows how to clear the tutorial directory; the pages that need it link there."""
    shown = [
        relative(page)
        for page in pages_with_transcripts()
        if any("rm -rf state" in c.text for t in transcripts_of(page) for c in t.commands)
    ]
    assert shown == [relative(RESET_PAGE)], shown
    assert "rm -rf state" in reset_transcript().commands[0].text
    pages = pages_with_transcripts()
    linked = [page for page in pages if starts_afresh(page, transcripts_of(page))]
    assert len(linked) >= 10, [relative(page) for page in linked]


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

    def postgresql_port() -> int | str:
        try:
            server = request.getfixturevalue("postgresql")
        except pytest.skip.Exception as exc:
            return str(exc)
        server.fresh_database(DOC_POSTGRESQL_DATABASE, owner="collector")
        return server.port

    result = problem = None
    try:
        with sandbox_at(tmp_path) as sandbox:
            if starts_afresh(page, transcripts):
                reset(sandbox)
            result = replay(
                transcripts,
                sandbox,
                update=update,
                broker_port=broker_port,
                postgresql_port=postgresql_port,
            )
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
        hint = ""
        if page != RESET_PAGE and not starts_afresh(page, transcripts):
            hint = (
                "\n\n(This page does not link to the reset snippet, "
                "index.md#your-tutorial-directory, before its first transcript: its sandbox "
                "starts with what an earlier page leaves, a state and an outbox.)"
            )
        pytest.fail("\n\n".join(result.differences) + hint, pytrace=False)
    if result.stopped:
        pytest.skip(result.stopped)
