"""The guide's short way in keeps its budgets, read from the built site.

The reading path is the nav's first four pages: Introduction, Your first
collector, Stateful collectors, The complete example. A reader should meet the
complete `MyStatefullCollector` within about 2,500 words of prose, read
*Stateful collectors* (the scope of n6's page on the mixin) in at most about
1,800, and find the complete example's code open, with the lines that grew
from the first collector highlighted. Sentences stay short, and each page ends
with a recap. Words are counted as a reader meets them: the article's prose,
without code blocks, diagrams or the table of contents.
"""

from __future__ import annotations

import ast
import difflib
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support import EXAMPLES, ROOT
from tests.support.site import mkdocs_config

PATH = ["index.md", "first-collector.md", "stateful-collectors.md", "complete-example.md"]
WORDS_BEFORE_THE_CODE = 2500
STATEFUL_COLLECTORS_WORDS = 1800
MEAN_SENTENCE_WORDS = 16
LONGEST_SENTENCE_WORDS = 40
WORD = re.compile(r"[A-Za-z0-9][\w'’.-]*")
SKIPPED = ("pre", "svg", "script", "style", "nav")
BLOCKS = ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "dd", "dt", "summary", "div", "tr")


class Prose(HTMLParser):
    """A page's <article> as a reader meets it: prose, code blocks, and folded blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_article = False
        self.stack: list[tuple[str, bool]] = []
        self.skip = 0
        self.events: list[tuple[str, str]] = []
        """("prose", text) and ("code", text of one <pre>), in order."""
        self.paragraphs: list[str] = []
        self.headings: list[str] = []
        self.folded = 0
        self._code: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "article":
            self.in_article = True
        if not self.in_article or tag in ("br", "img", "hr", "input", "path", "rect", "line"):
            return
        skipping = tag in SKIPPED or (tag == "a" and "headerlink" in (values.get("class") or ""))
        self.stack.append((tag, skipping))
        self.skip += skipping
        if tag == "pre":
            self._code = []
        if tag == "details" and "open" not in values:
            self.folded += 1
        if tag == "p":
            self.paragraphs.append("")
        if tag == "h2":
            self._heading = []
        if tag in BLOCKS:
            self.events.append(("prose", "\n"))

    def handle_endtag(self, tag: str) -> None:
        if not self.in_article:
            return
        if tag == "article":
            self.in_article = False
            return
        while self.stack:
            open_tag, skipping = self.stack.pop()
            self.skip -= skipping
            if open_tag == tag:
                break
        if tag == "pre" and self._code is not None:
            self.events.append(("code", "".join(self._code)))
            self._code = None
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if not self.in_article:
            return
        if self._code is not None:
            self._code.append(data)
        if self.skip:
            return
        if self._heading is not None:
            self._heading.append(data)
        self.events.append(("prose", data))
        if any(tag == "p" for tag, _ in self.stack) and self.paragraphs:
            self.paragraphs[-1] += data

    def words(self) -> int:
        return sum(len(WORD.findall(text)) for kind, text in self.events if kind == "prose")


def read(site: Path, page: str) -> Prose:
    name = "index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html"
    parser = Prose()
    parser.feed((site / name).read_text(encoding="utf-8"))
    return parser


def is_the_complete_code(code: str) -> bool:
    return all(part in code for part in ("class MyStatefullCollector", "def run", "_download"))


def sentences(paragraph: str) -> list[int]:
    """The word counts of a paragraph's sentences (a sentence ends at . ! ? : or ;)."""
    text = " ".join(paragraph.split())
    parts = re.split(r"(?<=[.!?:;])\s+(?=[A-Z`*\[(])", text)
    return [count for part in parts if (count := len(WORD.findall(part))) >= 3]


def test_the_path_is_the_start_of_the_nav() -> None:
    nav = mkdocs_config()["nav"]
    learn = next(iter(nav[0].values()))
    assert [next(iter(item.values())) for item in learn][: len(PATH)] == PATH


def test_the_complete_code_comes_within_the_word_budget(built_site: Path) -> None:
    read_so_far = 0
    for page in PATH:
        for kind, text in read(built_site, page).events:
            if kind == "code" and is_the_complete_code(text):
                assert read_so_far <= WORDS_BEFORE_THE_CODE, (page, read_so_far)
                assert page == "stateful-collectors.md", page
                return
            if kind == "prose":
                read_so_far += len(WORD.findall(text))
    pytest.fail("the complete MyStatefullCollector is on no page of the reading path")


def test_stateful_collectors_stays_close_to_n6s_page(built_site: Path) -> None:
    page = read(built_site, "stateful-collectors.md")
    assert page.words() <= STATEFUL_COLLECTORS_WORDS, page.words()
    code = "\n".join(text for kind, text in page.events if kind == "code")
    for method in ("save_state", "load_state", "make_default_state", "get_state_file_name"):
        assert method in " ".join(text for kind, text in page.events if kind == "prose"), method
    assert "__init__" in code or "state_file_path" in code


@pytest.mark.parametrize("page", PATH)
def test_each_page_is_plain_reading_and_ends_with_a_recap(built_site: Path, page: str) -> None:
    prose = read(built_site, page)
    assert prose.headings[-1] == "Recap", prose.headings
    assert prose.folded == 0, "a folded block on the reading path"
    counts = [count for paragraph in prose.paragraphs for count in sentences(paragraph)]
    assert sum(counts) / len(counts) <= MEAN_SENTENCE_WORDS, sum(counts) / len(counts)
    assert max(counts) <= LONGEST_SENTENCE_WORDS, max(counts)


def changed_lines(old: str, new: str) -> list[int]:
    """1-based lines of `new` that are not in `old`, module docstrings and blank lines aside."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    old_start = ast.parse(old).body[0].end_lineno or 0
    new_start = ast.parse(new).body[0].end_lineno or 0
    matcher = difflib.SequenceMatcher(
        None, old_lines[old_start:], new_lines[new_start:], autojunk=False
    )
    return [
        new_start + index + 1
        for tag, _, _, first, last in matcher.get_opcodes()
        if tag in ("replace", "insert")
        for index in range(first, last)
        if new_lines[new_start + index].strip()
    ]


def _numbers(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in spec.split():
        first, _, last = part.partition("-")
        numbers += range(int(first), int(last or first) + 1)
    return numbers


def test_the_complete_example_highlights_what_grew_from_the_first_collector(
    built_site: Path,
) -> None:
    """The page's hl_lines are the lines that differ from first_collector.py, shown open."""
    expected = changed_lines(
        (EXAMPLES / "first_collector.py").read_text(encoding="utf-8"),
        (EXAMPLES / "my_statefull_collector.py").read_text(encoding="utf-8"),
    )
    source = (ROOT / "docs" / "complete-example.md").read_text(encoding="utf-8")
    fence = re.search(
        r'^```python \{[^}]*hl_lines="([^"]+)"[^}]*\}\n--8<-- "examples/my_statefull_collector.py"',
        source,
        re.M,
    )
    assert fence, "complete-example.md shows my_statefull_collector.py with hl_lines, unfolded"
    assert _numbers(fence.group(1)) == expected, f"hl_lines should be {expected}"

    html = (built_site / "complete-example" / "index.html").read_text(encoding="utf-8")
    blocks = [
        block
        for block in re.findall(r"<pre.*?</pre>", html, re.S)
        if is_the_complete_code(unescape(re.sub(r"<[^>]+>", "", block)))
    ]
    assert len(blocks) == 1, "the complete code is shown once on the page"
    assert blocks[0].count('class="hll"') == len(expected), "the highlighted lines as rendered"
    assert read(built_site, "complete-example.md").folded == 0
