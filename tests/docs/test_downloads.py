"""The site's downloads as both builds get them: `write_downloads`, called while mkdocs.yml is read.

It must leave `docs/downloads/` holding exactly the wheel and the tutorial
archive, the same bytes for the same sources, new bytes when a source
changes, and write nothing when nothing changed (a `serve` watcher would
rebuild for nothing). Run here on a copy of the sources.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from stateful_collectors_docs.downloads import write_downloads

from stateful_collectors import __version__
from tests.support.site import copy_site_sources


def _state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_the_downloads_follow_the_sources_and_nothing_else(tmp_path: Path, monkeypatch) -> None:
    project = copy_site_sources(tmp_path / "project")
    monkeypatch.chdir(project)
    into = project / "docs" / "downloads"
    (into).mkdir()
    (into / "stateful_collectors-0.0.9-py3-none-any.whl").write_bytes(b"an old version's wheel")

    names = write_downloads(".", "examples", "docs/downloads")
    first = _state(into)
    assert (
        sorted(first)
        == sorted(names.values())
        == sorted([f"stateful_collectors-{__version__}-py3-none-any.whl", "tutorial.tar.gz"])
    ), "the folder holds exactly the two downloads"

    write_downloads(".", "examples", "docs/downloads")
    assert _state(into) == first, "nothing changed, nothing written (same bytes, same mtimes)"

    module = project / "src" / "stateful_collectors" / "__init__.py"
    module.write_text(module.read_text() + "\n# a change\n")
    example = next((project / "examples").glob("*.conf"))
    example.write_text(example.read_text() + "\n# a change\n")
    write_downloads(".", "examples", "docs/downloads")
    changed = _state(into)
    for name in first:
        assert changed[name][0] != first[name][0], f"{name} did not follow its sources"
    with tarfile.open(into / "tutorial.tar.gz") as tar:
        assert tar.extractfile(f"tutorial/{example.name}").read() == example.read_bytes()

    module.write_text(module.read_text().removesuffix("\n# a change\n"))
    example.write_text(example.read_text().removesuffix("\n# a change\n"))
    write_downloads(".", "examples", "docs/downloads")
    assert {name: data for name, (data, _) in _state(into).items()} == {
        name: data for name, (data, _) in first.items()
    }, "the same sources give the same bytes"
