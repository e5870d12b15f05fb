"""The docs harness's `#>` check: every `#>` line must be written by a print that ran.

pytest-examples rewrites only the `#>` lines under the prints that ran, so a
stale `#>` line under a print that never ran, or under a statement that prints
nothing, used to pass. These blocks are run through the same check as the
guide's (`PrintLines`), from text, so that the harness itself is tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, run_code

from tests.support.docs.blocks import PrintLines, examples_config


@pytest.fixture
def check(eval_example: EvalExample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a block's text through the guide's print check; return the failure text or ''."""
    monkeypatch.setattr(run_code, "InsertPrintStatements", PrintLines)
    monkeypatch.chdir(tmp_path)

    def run(source: str) -> str:
        example = CodeExample.create(source, path=tmp_path / "page.md")
        eval_example.config = examples_config(example)
        try:
            eval_example.run_print_check(example)
        except pytest.fail.Exception as failure:
            return str(failure)
        return ""

    return run


def test_prints_that_ran_pass(check):
    source = 'for word in ["a", "b"]:\n    print(word)\n    #> a\n    #> b\n'
    source += 'print(1, 2, sep="\\n")\n#> 1\n#> 2\n'
    assert check(source) == ""


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            'if False:\n    print("never")\n    #> never\n', id="under a print that never ran"
        ),
        pytest.param("total = 1 + 1\n#> 2\n", id="under a statement that prints nothing"),
        pytest.param('print("a")\n#> a\nx = 1\n#> 1\n', id="a second block of lines after a print"),
        pytest.param('print("a")\n#> a\n#> b\n', id="one line more than printed"),
    ],
)
def test_a_print_line_that_no_executed_print_wrote_fails(check, source):
    failure = check(source)
    assert "Print output changed code" in failure, failure
