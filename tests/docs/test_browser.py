"""The built guide, checked as files and in a real browser.

The site is built once per session (`mkdocs build --strict`, see tests/support/site.py)
and served over HTTP on a loopback port. The browser is Debian's Chromium, headless
(tests/support/browser.py: the `chromium` fixture, and the page checks below).

Every page is opened at 1280 px: nothing is requested from another origin,
every image loads, no code line is wider than its box (a transcript's output
wraps, as in a terminal), no name in a table is cut inside a word, a table
wider than the page scrolls, and every diagram's text fits its box. Pages
with diagrams are opened again in the dark theme, and in both the diagrams'
text must keep a contrast of 4.5:1.
The file-level checks of the same site are in test_site.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import (
    DIAGRAM_CHECKS,
    MIN_CONTRAST,
    PAGE_CHECKS,
    Tab,
    only_from,
    site_pages,
)

CENTERPIECE = "stateful-collectors/"
WIDTH = 1280
"""The window width every page is checked at: a laptop's, and the guide's reference."""


@pytest.mark.browser
def test_centerpiece_page_in_chromium(chromium, served_site: str) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(f"{served_site}/{CENTERPIECE}", wait_until="networkidle")

    # The page and its code blocks are rendered.
    assert page.title().startswith("Stateful collectors")
    assert page.locator("article h1").inner_text().rstrip("¶ ") == "Stateful collectors"
    code_blocks = page.locator("article div.highlight")
    assert code_blocks.count() >= 4
    texts = page.locator("article div.highlight code").all_inner_texts()
    assert any("super(MyStatefullCollector, self).run()" in text for text in texts)  # the include

    # Every block has a copy button, and what it copies is the code, without the
    # annotation markers: it compiles.
    copy_buttons = page.locator('article div.highlight button[data-md-type="copy"]')
    copy_buttons.first.wait_for(state="attached", timeout=10_000)
    assert copy_buttons.count() == code_blocks.count()
    annotated = code_blocks.filter(has_text="class RunCounter")
    assert annotated.locator(".md-annotation").count() == 5
    annotated.hover()
    annotated.locator('button[data-md-type="copy"]').click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "self.save_state(self.state)" in copied and "(1)" not in copied
    compile(copied, "copied from the page", "exec")

    # The site's search finds save_state, and a result leads to this page.
    search = page.locator("input.md-search__input")
    search.click()
    page.keyboard.type("save_state", delay=20)  # the search reacts to key presses
    results = page.locator(".md-search-result__list a")
    results.first.wait_for(timeout=15_000)
    links = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any(CENTERPIECE in link for link in links), links

    assert not problems, "\n".join(problems)
    context.close()


@pytest.mark.browser
def test_every_page_in_chromium(chromium, served_site: str, built_site: Path) -> None:
    """Each page at 1280 px: only the site's own requests, images, code widths, tables, diagrams."""
    outside: list[str] = []
    only_the_site = only_from(served_site, outside)
    problems: list[str] = []
    diagram_pages = []
    boxes = {"light": 0, "dark": 0}
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme="light")
    context.route("**/*", only_the_site)
    tab = Tab(context, problems)
    for path in site_pages(built_site):
        page = tab.visit(f"{served_site}/{path}")
        problems.extend(f"{path or '/'}: {p}" for p in page.evaluate(PAGE_CHECKS))
        if page.locator("svg.sc-diagram__svg").count():
            diagram_pages.append(path)
            found = page.evaluate(DIAGRAM_CHECKS, MIN_CONTRAST)
            boxes["light"] += found["boxes"]
            problems.extend(f"{path or '/'} (light): {p}" for p in found["problems"])
    context.close()

    dark = chromium.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme="dark")
    dark.route("**/*", only_the_site)
    tab = Tab(dark, problems)
    for path in diagram_pages:
        page = tab.visit(f"{served_site}/{path}")
        scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert scheme == "slate", f"{path}: the dark theme did not apply ({scheme})"
        found = page.evaluate(DIAGRAM_CHECKS, MIN_CONTRAST)
        boxes["dark"] += found["boxes"]
        problems.extend(f"{path or '/'} (dark): {p}" for p in found["problems"])
    dark.close()

    assert diagram_pages and boxes["light"] == boxes["dark"] > 0, (diagram_pages, boxes)
    problems.extend(f"requested from outside the site: {url}" for url in outside)
    assert not problems, "\n".join(problems)
