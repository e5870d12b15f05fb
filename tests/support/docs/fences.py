"""Find the fenced code blocks of the guide and read the settings in their fences.

A fence's info string is the language, then optional settings in braces:

    ```python {test="skip: needs a RabbitMQ broker with a queue bound"}
    ```console {needs="rabbitmq"}

Settings outside braces (```python test="...") break the page in MkDocs
(pymdownx.superfences does not recognise the fence), so they are reported as
an error by the tests instead of being read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from tests.support import ROOT

PYTHONISH = {
    "py",
    "py3",
    "pycon",
    "pyi",
    "pytb",
    "python",
    "python3",
    "ipython",
    "ipython3",
    "pyodide",
}
"""Languages that hold Python or a Python session: each such fence must be run or skipped."""

_FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<marks>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_SETTING_RE = re.compile(r"""([A-Za-z_][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def doc_sources() -> list[Path]:
    """Every file whose code blocks are tested: the pages, the README, the library's modules."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    modules = sorted((ROOT / "src" / "stateful_collectors").rglob("*.py"))
    return [*pages, ROOT / "README.md", *modules]


def relative(path: Path) -> str:
    """`path` relative to the repository root, for test ids and messages."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclasses.dataclass(frozen=True)
class FenceInfo:
    """The parsed info string of a fence."""

    language: str
    settings: dict[str, str]
    problems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, info: str) -> FenceInfo:
        """Split `python {test="skip: why"}` into language and settings."""
        info = info.strip()
        problems: list[str] = []
        brace = info.find("{")
        head, braces = (info, "") if brace < 0 else (info[:brace], info[brace:])
        if braces and not braces.rstrip().endswith("}"):
            problems.append(f"unclosed '{{' in the fence info {info!r}")
        inside = braces.strip().removeprefix("{").removesuffix("}")
        head_words = head.split()
        language = head_words[0].lstrip(".").lower() if head_words else ""
        if not language:
            # the brace-only form: ```{.python test="..."}
            classes = [word[1:] for word in inside.split() if word.startswith(".")]
            language = classes[0].lower() if classes else ""
        if len(head_words) > 1:
            problems.append(
                f"settings outside braces in {info!r}: MkDocs will not render this fence; "
                f"write {language} {{{' '.join(head_words[1:])}}}"
            )
        settings = {
            match.group(1): match.group(2) if match.group(2) is not None else match.group(3)
            for match in _SETTING_RE.finditer(inside)
        }
        return cls(language, settings, tuple(problems))


@dataclasses.dataclass(frozen=True)
class Fence:
    """One fenced block: where it is, its info, its body (dedented) and its extent."""

    path: Path
    line: int
    """1-based line number of the opening fence."""
    info: FenceInfo
    info_text: str
    indent: str
    body: str
    body_start: int
    """Character offset of the body's first line in the file's text."""
    body_end: int
    """Character offset just after the body's last line (where the closing fence starts)."""

    @property
    def where(self) -> str:
        return f"{relative(self.path)}:{self.line}"


def iter_fences(path: Path, text: str | None = None) -> Iterator[Fence]:
    """Every fenced block of `path` (Markdown, or a Python file's docstrings and comments).

    An opening fence is three or more backticks or tildes; the block ends at a
    line with at least as many of the same marks and nothing else. Indented
    fences (inside admonitions, tabs or docstrings) are found too, and their
    body is dedented by the fence's indentation.
    """
    text = path.read_text(encoding="utf-8") if text is None else text
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    index = 0
    while index < len(lines):
        match = _FENCE_RE.match(lines[index].rstrip("\n"))
        if not match:
            index += 1
            continue
        marks, indent = match.group("marks"), match.group("indent")
        closing = re.compile(rf"^[ \t]*{re.escape(marks[0])}{{{len(marks)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end].rstrip("\n")):
            end += 1
        body_lines = lines[index + 1 : end]
        body = "".join(
            line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t")
            for line in body_lines
        )
        yield Fence(
            path=path,
            line=index + 1,
            info=FenceInfo.parse(match.group("info")),
            info_text=match.group("info"),
            indent=indent,
            body=body,
            body_start=offsets[index + 1],
            body_end=offsets[min(end, len(lines))],
        )
        index = end + 1


SNIPPET_RE = re.compile(r"""^-{1,3}8<-{1,3}\s+(["'])(?P<target>[^"']+)\1\s*$""")
"""A pymdownx.snippets include line: `--8<-- "examples/file.py"` (optionally `:start:end`)."""


def snippet_targets(body: str) -> list[str] | None:
    """The files a block includes, when the block is nothing but snippet lines; else `None`."""
    targets = []
    for line in body.splitlines():
        if not line.strip():
            continue
        match = SNIPPET_RE.match(line.strip())
        if not match:
            return None
        targets.append(match.group("target"))
    return targets or None
