"""The docs tests' harness; the tests themselves are tests/docs/test_docs.py.

* `fences`: finding the fenced blocks of a page, a README or a docstring, and
  the settings in their fences;
* `blocks`: python blocks: discovery, lint and format checks, `#>` lines,
  included example programs;
* `transcripts`: console transcripts: reading, replaying in a sandbox,
  rewriting (`--update-docs`);
* `plugin`: the `--update-docs` option and the `docs blocks: ...` and
  `console transcripts: ...` summary lines (registered by tests/conftest.py).

The rules a page follows to pass these tests are a page of the guide:
docs/about/writing-pages.md ("Writing pages that pass the docs tests").
"""
