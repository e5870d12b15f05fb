"""The site built by Zensical shows its reader what the Material build shows.

Material (`mkdocs build`) is the site's build; Zensical, its successor, reads
the same mkdocs.yml (docs/about/writing-pages.md, "Building the site"). Both
are built once per session (tests/support/site.py) and compared:

* the same pages, and the same navigation;
* the same two downloads, byte for byte (the quick start installs them from
  either site: tests/docs/test_quick_start.py);
* every ```diagram drawn as an inline SVG, as many on each page as Material's,
  legible in the light and the dark theme;
* the API reference, with the same headings (the same names) as Material's;
* nothing from outside the site: no external URL in a page or a stylesheet,
  and in Chromium no request leaves the local server;
* the search finds `save_state` and leads to the page that teaches it; code
  blocks have their copy buttons and annotations.

docs/assets/zensical-build.md, included by the maintainers' page, records a
run of these tests (`--update-docs`). Each test prints its figures on a line
that starts with `zensical`.
"""

from __future__ import annotations

import hashlib
import html
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.browser import (
    DIAGRAM_CHECKS,
    MIN_CONTRAST,
    PAGE_CHECKS,
    Tab,
    only_from,
    open_page,
)
from tests.support.site import BUILD_SECONDS, ZensicalBuild, external_urls, serve_directory

RECORDED = ROOT / "docs" / "assets" / "zensical-build.md"
"""The last recorded comparison, as the maintainers' page shows it (written with --update-docs)."""
CENTERPIECE = "stateful-collectors/"
API_PAGE = "reference/api/index.html"
FIGURE = re.compile(r'<figure class="sc-diagram">(.*?)</figure>', re.S)
HEADING = re.compile(r'<h([1-6]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
CODE_FEATURES = """() => ({
  blocks: document.querySelectorAll('article div.highlight').length,
  copy: document.querySelectorAll('article div.highlight button[data-md-type="copy"]').length,
  annotations: document.querySelectorAll('article .md-annotation').length,
})"""
"""The centerpiece's code blocks, their copy buttons and their annotations (Material's features)."""
NAV = """() => [...document.querySelectorAll('.md-nav--primary a.md-nav__link[href]')]
  .map((a) => [a.textContent.trim().replace(/\\s+/g, ' '), new URL(a.href).pathname])"""


def _html_pages(site: Path) -> dict[str, str]:
    return {
        page.relative_to(site).as_posix(): page.read_text(encoding="utf-8")
        for page in sorted(site.rglob("*.html"))
    }


def _diagrams(site: Path) -> dict[str, int]:
    """Per page, the diagrams drawn: figures holding an SVG with boxes, text and a caption."""
    counts = {}
    for name, text in _html_pages(site).items():
        drawn = [
            figure
            for figure in FIGURE.findall(text)
            if "<svg" in figure and "<rect" in figure and "<figcaption>" in figure
        ]
        if drawn:
            counts[name] = len(drawn)
    return counts


def _headings(page: Path) -> list[tuple[str, str]]:
    """The headings of a page's article: (id, text), in order."""
    article = re.search(r"<article[^>]*>(.*)</article>", page.read_text(encoding="utf-8"), re.S)
    assert article, f"{page}: no <article>"
    return [
        (anchor, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("¶", "").split()))
        for _, anchor, text in HEADING.findall(article.group(1))
    ]


def test_zensical_builds_the_site(zensical_build: ZensicalBuild) -> None:
    """`zensical build --strict` succeeds on the site's own mkdocs.yml."""
    assert "Build finished" in zensical_build.output, zensical_build.output
    printed = " | ".join(zensical_build.output.splitlines())
    print(
        f"\nzensical {version('zensical')}: `zensical build --strict` printed: {printed} "
        f"({zensical_build.seconds:.1f} s, the command as a whole)"
    )


def _downloads(site: Path) -> dict[str, bytes]:
    folder = site / "downloads"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def test_the_recorded_comparison(
    request: pytest.FixtureRequest,
    zensical_build: ZensicalBuild,
    built_site: Path,
    zensical_site: Path,
) -> None:
    """docs/assets/zensical-build.md, on the maintainers' page, records this session's builds.

    `--update-docs` writes it from this run; otherwise it must name the
    Zensical that is installed (uv.lock), so that what it says was printed
    by this version.
    """
    installed = version("zensical")
    if request.config.getoption("update_docs", False):
        diagrams = _diagrams(zensical_site)
        names = [a for a, _ in _headings(zensical_site / API_PAGE) if a.startswith("stateful_")]
        downloads = "; ".join(
            f"`{name}` {len(data):,} bytes, sha256 `{hashlib.sha256(data).hexdigest()[:16]}...`"
            for name, data in _downloads(zensical_site).items()
        )
        printed = "\n".join(f"    {line}" for line in zensical_build.output.splitlines())
        RECORDED.write_text(
            "<!-- Written by `uv run pytest tests/docs/test_zensical.py --update-docs`; "
            "do not edit by hand. -->\n\n"
            f"Zensical {installed}, `zensical build --strict` on this site printed:\n\n"
            f"{printed}\n\n"
            f"The command took {zensical_build.seconds:.1f} s; `mkdocs build --strict` "
            f"(Material) took {BUILD_SECONDS['material']:.1f} s on the same machine, in the "
            "same test run. Compared with Material's site:\n\n"
            f"* the same {len(_html_pages(zensical_site))} pages and navigation;\n"
            f"* {sum(diagrams.values())} diagrams on {len(diagrams)} pages in both;\n"
            f"* the same {len(names)} API names on `reference/api/`;\n"
            f"* the same downloads: {downloads};\n"
            "* requests outside the site in Chromium: 0.\n",
            encoding="utf-8",
        )
    recorded = RECORDED.read_text(encoding="utf-8")
    assert f"Zensical {installed}," in recorded, (
        f"{RECORDED.relative_to(ROOT)} was not written by Zensical {installed}: "
        "run `uv run pytest tests/docs/test_zensical.py --update-docs`"
    )
    assert "`zensical build --strict` on this site printed:" in recorded


def test_the_same_pages(built_site: Path, zensical_site: Path) -> None:
    material, zensical = set(_html_pages(built_site)), set(_html_pages(zensical_site))
    assert zensical == material, (
        f"only Material's: {sorted(material - zensical)}; "
        f"only Zensical's: {sorted(zensical - material)}"
    )
    print(f"\nzensical: the same {len(zensical)} pages as Material")


def test_the_same_downloads(built_site: Path, zensical_site: Path) -> None:
    """Both sites offer the wheel and tutorial.tar.gz, with the same bytes, linked the same way."""

    material, zensical = _downloads(built_site), _downloads(zensical_site)
    assert len(material) == 2 and "tutorial.tar.gz" in material, sorted(material)
    assert sorted(zensical) == sorted(material), f"Zensical's site has {sorted(zensical)}"
    figures = []
    for name, data in material.items():
        assert zensical[name] == data, f"downloads/{name} differs between the two builds"
        figures.append(f"{name} {len(data):,} bytes sha256 {hashlib.sha256(data).hexdigest()[:16]}")
        link = f'href="downloads/{name}"'
        assert link in (zensical_site / "index.html").read_text(encoding="utf-8"), link
    print(f"\nzensical: downloads identical to Material's: {'; '.join(figures)}")


def test_every_diagram_is_drawn_as_in_material(built_site: Path, zensical_site: Path) -> None:
    material, zensical = _diagrams(built_site), _diagrams(zensical_site)
    assert material, "the Material build drew no diagram"
    assert zensical == material, f"diagrams per page: Material {material}, Zensical {zensical}"
    leaked = [
        name
        for name, text in _html_pages(zensical_site).items()
        if re.search(r"<code>[^<]*caption: ", text) and name != "about/writing-pages/index.html"
    ]
    assert not leaked, f"a diagram's source shown as text on {leaked}"
    print(
        f"\nzensical: {sum(zensical.values())} diagrams on {len(zensical)} pages, "
        f"Material: {sum(material.values())} on {len(material)}; per page: "
        + ", ".join(f"{name.removesuffix('index.html') or '/'} {n}" for name, n in material.items())
    )


def test_the_api_reference_has_the_same_names(built_site: Path, zensical_site: Path) -> None:
    material, zensical = _headings(built_site / API_PAGE), _headings(zensical_site / API_PAGE)
    names = [anchor for anchor, _ in material if anchor.startswith("stateful_collectors")]
    assert len(names) > 20, "the API reference lost its names"
    assert zensical == material, [
        pair for pair in zip(material, zensical, strict=False) if pair[0] != pair[1]
    ][:5] or f"Material {len(material)} headings, Zensical {len(zensical)}"
    print(
        f"\nzensical: reference/api/ has the same {len(zensical)} headings as Material's, "
        f"{len(names)} of them API names ({names[0]} ... {names[-1]})"
    )


def test_nothing_outside_the_site_is_named(zensical_site: Path) -> None:
    """No page or stylesheet of Zensical's site loads a script, style, font or image from afar."""
    found = external_urls(zensical_site)
    assert not found, "\n".join(found)
    print("\nzensical: external URLs in pages' scripts, styles, fonts, images: 0")


@pytest.mark.browser
def test_the_reader_sees_the_same_site_in_chromium(
    chromium, built_site: Path, zensical_site: Path
) -> None:
    """Every page of Zensical's site, as a reader sees it, against Material's.

    Only the local server answers (any other request is aborted and counted);
    the navigation is Material's; each page passes the browser test's checks,
    with as many diagrams as Material's, legible in both themes; the search
    finds `save_state` and leads to the page that teaches it.
    """
    expected = {name.removesuffix("index.html"): n for name, n in _diagrams(built_site).items()}
    with serve_directory(built_site) as material_url:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{material_url}/", wait_until="load")
        material_nav = page.evaluate(NAV)
        page.goto(f"{material_url}/{CENTERPIECE}", wait_until="networkidle")
        material_code = page.evaluate(CODE_FEATURES)
        context.close()

    problems: list[str] = []
    outside: list[str] = []
    drawn: dict[str, int] = {}
    paths = sorted(
        page.relative_to(zensical_site).as_posix().removesuffix("index.html")
        for page in zensical_site.rglob("index.html")
    )
    with serve_directory(zensical_site) as url:
        for scheme in ("light", "dark"):
            context = chromium.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme=scheme
            )
            context.route("**/*", only_from(url, outside))
            tab = Tab(context, problems)
            for path in paths if scheme == "light" else sorted(expected):
                page = tab.visit(f"{url}/{path}")
                if scheme == "light":
                    problems.extend(f"{path or '/'}: {p}" for p in page.evaluate(PAGE_CHECKS))
                    if path == "":
                        nav = page.evaluate(NAV)
                        assert nav == material_nav, (
                            f"the navigation differs:\n{nav}\n{material_nav}"
                        )
                svgs = page.locator("svg.sc-diagram__svg").count()
                if svgs:
                    drawn[path] = svgs
                    found = page.evaluate(DIAGRAM_CHECKS, MIN_CONTRAST)
                    problems.extend(f"{path or '/'} ({scheme}): {p}" for p in found["problems"])
                if scheme == "dark" and path in expected:
                    colours = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
                    assert colours == "slate", f"{path}: the dark theme did not apply ({colours})"
            context.close()

        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", only_from(url, outside))
        page = open_page(context, f"{url}/{CENTERPIECE}", problems)
        page.wait_for_load_state("networkidle")
        code = page.evaluate(CODE_FEATURES)
        page.locator(".md-search__button").click()
        page.keyboard.type("save_state", delay=20)
        results = page.locator('dialog[aria-label="Search"] ol[role="listbox"] a[href]')
        results.first.wait_for(timeout=15_000)
        links = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
        context.close()

    assert drawn == expected, f"diagrams per page: Zensical {drawn}, Material {expected}"
    assert code == material_code and code["blocks"] == code["copy"] > 0, (code, material_code)
    assert any(CENTERPIECE in link for link in links), links
    problems.extend(f"requested from outside the site: {request}" for request in outside)
    assert not problems, "\n".join(problems)
    print(
        f"\nzensical in Chromium: {len(paths)} pages, nav of {len(material_nav)} links as "
        f"Material's, {sum(drawn.values())} diagrams on {len(drawn)} pages (light and dark), "
        f"on {CENTERPIECE} {code['blocks']} code blocks with copy buttons and "
        f"{code['annotations']} annotations as Material's, "
        f"search 'save_state': {len(links)} results shown; requests outside the site: "
        f"{len(outside)}"
    )
