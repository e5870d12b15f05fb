"""The built guide as files: what its reader gets, checked without a browser.

The site is built once per session (`mkdocs build --strict`, tests/support/site.py).
These tests read its HTML: no fence markers or fence settings in the text, every
image and download in the site, nothing loaded from another origin, every
diagram drawn; and the sources behind it: docstrings that render as written,
reader pages that speak to the reader, figures in prose that match their source.
tests/docs/test_browser.py looks at the same pages in Chromium.
"""

from __future__ import annotations

import ast
import html
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

import stateful_collectors
from tests.support import EXAMPLES, ROOT
from tests.support.site import page_resources

SHOWS_FENCE_SYNTAX = "about/writing-pages/index.html"
"""The page that shows fences, settings and include lines on purpose (about/writing-pages.md)."""
FENCE_SYNTAX_BLOCK = re.compile(r'<div class="(?:[^"]* )?fence-syntax(?: [^"]*)?">.*?</div>', re.S)
"""A code block of the class `fence-syntax`: Markdown source shown as an example."""
MAINTAINERS = ("about/",)
"""Pages for the library's maintainers; every other page is the reader's."""
VERSION = stateful_collectors.__version__
WHEEL = f"stateful_collectors-{VERSION}-py3-none-any.whl"


def _pages(site: Path) -> list[tuple[str, str]]:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20, "the site has fewer pages than the guide"
    return [(page.relative_to(site).as_posix(), page.read_text(encoding="utf-8")) for page in pages]


def _article(text: str) -> str:
    """The page's own content (Material's <article>), without the navigation."""
    match = re.search(r"<article[^>]*>(.*)</article>", text, re.S)
    return match.group(1) if match else text


# ---------------------------------------------------------------- what the reader sees


def test_no_fence_markers_settings_or_includes_in_any_page(built_site: Path) -> None:
    """Nothing of a fence's Markdown reaches a page: no ```, no {test=...}, no title=, no --8<--.

    Only the page on writing pages shows such things, in its `fence-syntax`
    example blocks; those are left out of the check there, and allowed nowhere else.
    A fence that MkDocs did not recognise, a ```diagram block the hook could not
    draw, or a docstring whose backslashes Python ate, all show up here as text.
    """
    leaks = []
    pattern = re.compile(
        r"```|~~~|\{\s*(?:test|needs|title)\s*=|(?:test|needs)=(?:&quot;|\")|--8&lt;--|--8<--"
    )
    for name, text in _pages(built_site):
        examples = FENCE_SYNTAX_BLOCK.findall(text)
        if name == SHOWS_FENCE_SYNTAX:
            assert len(examples) >= 4, f"{name}: its fence-syntax examples are gone"
            text = FENCE_SYNTAX_BLOCK.sub("", text)
        elif examples:
            leaks.append(f"{name}: a fence-syntax block (allowed on {SHOWS_FENCE_SYNTAX} only)")
        text = re.sub(r"<script.*?</script>", "", text, flags=re.S)  # the search index's JSON
        for match in pattern.finditer(_article(text)):
            start = max(0, match.start() - 60)
            around = _article(text)[start : match.end() + 40]
            context = html.unescape(re.sub(r"<[^>]+>", "", around))
            leaks.append(f"{name}: {match.group(0)!r} in ...{context.strip()}...")
    assert not leaks, "\n".join(leaks)


def test_every_resource_is_in_the_site(built_site: Path) -> None:
    """Images, scripts and stylesheets come from the site itself, and each one exists."""
    problems = []
    for name, text in _pages(built_site):
        page_dir = (built_site / name).parent
        for tag, url in page_resources(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.I) and not url.startswith("data:"):
                problems.append(f"{name}: <{tag}> loads {url} from outside the site")
                continue
            if url.startswith("data:"):
                continue
            path = url.split("#")[0].split("?")[0]
            base = built_site if path.startswith("/") else page_dir  # 404.html: from the root
            target = (base / path.lstrip("/")).resolve()
            if not target.is_file():
                problems.append(f"{name}: <{tag}> {url} is not in the site")
    assert not problems, "\n".join(problems)


def test_diagrams_are_drawn_as_inline_svg(built_site: Path) -> None:
    """Each ```diagram block became a figure with an SVG, boxes, text and a caption."""
    counts = {}
    for name, text in _pages(built_site):
        figures = re.findall(r'<figure class="sc-diagram">(.*?)</figure>', text, re.S)
        for figure in figures:
            assert "<svg" in figure and "<rect" in figure and "<text" in figure, name
            assert re.search(r"<figcaption>.+</figcaption>", figure, re.S), name
            assert re.search(r'aria-labelledby="([^"]+)".*<title id="\1">', figure, re.S), name
        if figures:
            counts[name.removesuffix("index.html") or "/"] = len(figures)
    total = sum(counts.values())
    print(f"\ndiagrams: {total} on {len(counts)} page(s): {counts}")
    for page in ("/", "stateful-collectors/", "surviving-crashes/"):
        assert counts.get(page), f"{page} lost its diagrams"
    assert total >= 5


def test_the_introduction_links_the_downloads_and_they_hold_what_it_says(built_site: Path) -> None:
    index = (built_site / "index.html").read_text(encoding="utf-8")
    assert f'href="downloads/{WHEEL}"' in index
    assert 'href="downloads/tutorial.tar.gz"' in index

    with zipfile.ZipFile(built_site / "downloads" / WHEEL) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"stateful_collectors-{VERSION}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"stateful_collectors-{VERSION}.dist-info/entry_points.txt")
    modules = {
        f"stateful_collectors/{p.relative_to(ROOT / 'src' / 'stateful_collectors').as_posix()}"
        for p in (ROOT / "src" / "stateful_collectors").rglob("*.py")
    }
    assert modules <= names, sorted(modules - names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert f"Version: {VERSION}" in metadata
    assert b"stateful-collectors = stateful_collectors.command.cli:main" in entry_points

    archive = (built_site / "downloads" / "tutorial.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {member.name: member for member in tar.getmembers()}
        files = {name for name, member in members.items() if member.isfile()}
        for name in files:
            assert tar.extractfile(name).read() == (EXAMPLES / Path(name).name).read_bytes()
    expected = {
        f"tutorial/{p.name}"
        for p in EXAMPLES.iterdir()
        if p.is_file() and p.suffix in (".py", ".conf")
    }
    assert files == expected
    assert set(members) == expected | {"tutorial"}


# ---------------------------------------------------------------- the sources behind the pages


def test_every_docstring_with_a_backslash_is_a_raw_string() -> None:
    r"""The API page renders the runtime docstring: `\n` in a plain string is a newline there.

    The docs tests read docstring examples from the source text, where `"\n"`
    is two characters; mkdocstrings reads the docstring Python made, where it is
    one, and the page showed a broken block. A raw docstring is the same in both.
    """
    problems = []
    for path in sorted((ROOT / "src" / "stateful_collectors").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            body = node.body
            first = body[0] if body else None
            if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)):
                continue
            constant = first.value
            if not isinstance(constant.value, str):
                continue
            start = constant.lineno - 1
            literal = "\n".join(lines[start : constant.end_lineno])[constant.col_offset :]
            prefix = re.match(r"[rRbBuUfF]*", literal).group(0).lower()
            text = "\n".join(lines[start : constant.end_lineno])
            if "\\" in text and "r" not in prefix:
                where = f"{path.relative_to(ROOT)}:{constant.lineno}"
                problems.append(f"{where}: a docstring with a backslash; make it a raw string")
    assert not problems, "\n".join(problems)


READER_WORDS = [
    (re.compile(r"\bharness\b", re.I), "the harness"),
    (re.compile(r"this machine", re.I), "'this machine'"),
    (re.compile(r"\b(?:the|our|its own|library's) tests\b|\btest suite\b", re.I), "the tests"),
    (re.compile(r"\btests/|\bpytest-rabbitmq\b|\buv run pytest\b", re.I), "the test suite"),
    (re.compile(r"\bCI\b"), "CI"),
    (re.compile(r"\bseed\b", re.I), "'seed' (say: n6's original page)"),
]


def _visible_prose(text: str) -> str:
    article = _article(text)
    article = re.sub(r"<(script|style|svg|pre|code)\b.*?</\1>", " ", article, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", article))


def test_reader_pages_speak_to_the_reader(built_site: Path) -> None:
    """No reader page talks about the tests, the harness, CI, 'this machine' or 'the seed'.

    Code is left out (a reader's own test module may say `pytest`); the pages
    under For contributors (about/) are for maintainers and may.
    """
    problems = []
    for name, text in _pages(built_site):
        if name.startswith(MAINTAINERS) or name in ("404.html",) or name.startswith("search"):
            continue
        prose = _visible_prose(text)
        for pattern, what in READER_WORDS:
            for match in pattern.finditer(prose):
                context = " ".join(prose[max(0, match.start() - 50) : match.end() + 30].split())
                problems.append(f"{name}: {what}: ...{context}...")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("page", "phrase", "value"),
    [
        ("about/performance.md", r"The bar is ([\d.]+)x: the library may add", "SAVE_BAR"),
        ("about/performance.md", r"at least ([\d.]+)x of the hand-written save", "SAVE_THROUGHPUT"),
        ("about/performance.md", r"The bar is ([\d.]+)x, checks included", "LOAD_BAR"),
        ("about/performance.md", r"at least ([\d.]+)x of the plain\s+load", "LOAD_THROUGHPUT"),
        ("about/performance.md", r"The\s+bar is at least ([\d.]+)x the baseline's rate", "PUBLISH"),
        (
            "about/performance.md",
            r"with\s+its peak publishing [\d,]+; the bar is ([\d.]+)x",
            "MEMORY",
        ),
        ("about/performance.md", r"than (\d+) MiB of frames are pending", "BUFFER_MIB"),
        ("about/performance.md", r"The bar is ([\d.]+)x\.\n", "NOTHING_NEW_BAR"),
        ("about/performance.md", r"within (\d+)%", "GROWTH_PERCENT"),
        ("about/performance.md", r"A run that finds (\d+) new items", "NEW_ITEMS"),
        ("about/performance.md", r"may take at most ([\d.]+)x the script's time", "ROWS_TIME"),
        ("about/performance.md", r"may be at most ([\d.]+)x the script's:", "ROWS_MEMORY"),
        ("about/performance.md", r"Both publish the same\s+([\d,]+) persistent", "MESSAGES"),
        ("about/tests.md", r"with a checkpoint every (\d+)\s+items", "CHECKPOINT_EVERY"),
        ("checkpoints.md", r"with a checkpoint\s+every (\d+) items", "CHECKPOINT_EVERY"),
        ("checkpoints.md", r"and a (hundred) new items per run", "BACKLOG"),
        ("checkpoints.md", r"kill it with `SIGKILL` a\s+(hundred) times", "KILLS"),
        ("about/tests.md", r"Eight instances", "INSTANCES"),
        ("reference/cli.md", r"`--page-size` items \((\d+)\)", "PAGE_SIZE"),
        ("reference/cli.md", r"`--rate-limit` requests a minute \((\d+)\)", "RATE_LIMIT"),
        ("reference/cli.md", r"each count is capped \(([\d,]+)\)", "MAX_CHANGE"),
        ("cookbook/rate-limited.md", r"`download_retries` \((\d+)\)", "DOWNLOAD_RETRIES"),
        (
            "cookbook/conditional-download.md",
            r"`download_max_bytes` \((\d+) MiB by default\)",
            "DOWNLOAD_MAX_MIB",
        ),
    ],
)
def test_figures_in_prose_match_their_source(page: str, phrase: str, value: str) -> None:
    """A figure a page quotes is the one the code uses (bars, test parameters)."""
    from benchmarks import publishing, rows_feed, state_io, whole_run
    from stateful_collectors.collectors.downloading import BaseDownloadingCollector
    from stateful_collectors.demo import cookbook as demo_cookbook
    from stateful_collectors.sinks import amqp
    from tests.reliability import test_checkpoint_kills, test_single_instance

    words = {"hundred": 100, "Eight": 8}
    rows = (ROOT / "benchmarks" / "publishing_rows.py").read_text(encoding="utf-8")
    expected = {
        "SAVE_BAR": state_io.SAVE_BAR,
        "SAVE_THROUGHPUT": state_io.SAVE_THROUGHPUT_BAR,
        "LOAD_BAR": state_io.LOAD_BAR,
        "LOAD_THROUGHPUT": state_io.LOAD_THROUGHPUT_BAR,
        "PUBLISH": publishing.RATE_BAR,
        "MEMORY": publishing.MEMORY_BAR,
        "BUFFER_MIB": amqp._MAX_BUFFERED_BYTES / (1 << 20),
        "NOTHING_NEW_BAR": whole_run.NOTHING_NEW_BAR,
        "GROWTH_PERCENT": round((whole_run.GROWTH_BAR - 1) * 100),
        "NEW_ITEMS": whole_run.NEW_ITEMS,
        "ROWS_TIME": rows_feed.TIME_BAR,
        "ROWS_MEMORY": rows_feed.MEMORY_BAR,
        "MESSAGES": int(re.search(r"messages=([\d_]+)", rows).group(1).replace("_", "")),
        "CHECKPOINT_EVERY": test_checkpoint_kills.CHECKPOINT_EVERY,
        "BACKLOG": test_checkpoint_kills.BACKLOG,
        "KILLS": test_checkpoint_kills.KILLS,
        "INSTANCES": test_single_instance.INSTANCES,
        "PAGE_SIZE": demo_cookbook.DEFAULT_PAGE_SIZE,
        "RATE_LIMIT": demo_cookbook.DEFAULT_RATE_LIMIT,
        "MAX_CHANGE": demo_cookbook.MAX_CHANGE,
        "DOWNLOAD_RETRIES": _download_default(BaseDownloadingCollector, "download_retries"),
        "DOWNLOAD_MAX_MIB": _download_default(BaseDownloadingCollector, "download_max_bytes")
        / (1 << 20),
    }[value]
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    match = re.search(phrase, text)
    assert match, f"docs/{page}: {phrase!r} is gone; update this test with the page"
    quoted = match.group(1) if match.groups() else match.group(0).split()[0]
    number = words.get(quoted) or float(quoted.replace(",", ""))
    assert number == pytest.approx(expected), f"docs/{page} says {quoted}, the code {expected}"


def _download_default(cls: type, option: str) -> float:
    """The default of one of `BaseDownloadingCollector`'s options, as its spec lines say."""
    for line in cls.config_spec_pattern_defaults().splitlines():
        name, _, rest = line.partition("=")
        if name.strip() == option:
            return float(rest.split("::")[0])
    raise AssertionError(f"{cls.__name__} has no option {option!r}")


def test_the_recorded_kill_run_adds_up() -> None:
    """The checkpoint kill run the maintainers' page shows is consistent with the test."""
    from tests.reliability.test_checkpoint_kills import CHECKPOINT_EVERY, KILLS, RECORDED_RUN

    text = RECORDED_RUN.read_text(encoding="utf-8")
    line = re.search(r"`(kills: .*?)`", text).group(1)
    pairs = re.findall(r"(?:^|, )([a-z][a-z ]*?): (\d+)", line)
    counts = {key: int(number) for key, number in pairs}
    assert counts["kills"] == KILLS
    assert counts["delivered"] == counts["items"] + counts["duplicates"]
    assert counts["max per kill"] <= CHECKPOINT_EVERY
    assert counts["runs"] >= counts["kills"] + 2
    assert f"(interval {CHECKPOINT_EVERY})" in line
    assert f"Every one of the {counts['items']:,} items" in text
    assert f"The {counts['duplicates']:,} extra deliveries" in text
    assert (
        '--8<-- "docs/assets/checkpoint-kills.md"'
        in (ROOT / "docs" / "about" / "tests.md").read_text()
    )
