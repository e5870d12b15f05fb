"""The built guide, checked as files and in a real browser.

The site is built once per session (`mkdocs build --strict`, see tests/support/site.py)
and served over HTTP on a loopback port. The browser is Debian's Chromium
(`/usr/bin/chromium`, or `$STATEFUL_COLLECTORS_CHROMIUM`), headless, driven by
Playwright through `executable_path`: no browser is downloaded. Without
Chromium the browser test is skipped with the reason, unless
`STATEFUL_COLLECTORS_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("STATEFUL_COLLECTORS_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-background-networking",  # no calls home: the machine may have no network
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CENTERPIECE = "stateful-collectors/"
SHOWS_FENCE_SYNTAX = "about/writing-pages/index.html"
"""The page that shows fences, settings and include lines on purpose (about/writing-pages.md)."""
FENCE_SYNTAX_BLOCK = re.compile(r'<div class="(?:[^"]* )?fence-syntax(?: [^"]*)?">.*?</div>', re.S)
"""A code block of the class `fence-syntax`: Markdown source shown as an example."""


def test_site_shows_no_fence_settings_or_unresolved_snippets(built_site: Path) -> None:
    """Fence settings (test=..., needs=...) and snippet lines never reach a page.

    Only the page on writing pages shows them, in its `fence-syntax` example
    blocks; those blocks are left out of the check there, and allowed nowhere else.
    """
    leaks = []
    pattern = re.compile(r"""(?:test|needs)=(?:&quot;|")|\{(?:test|needs)=|--8&lt;--|--8<--""")
    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        name = page.relative_to(built_site).as_posix()
        text = page.read_text(encoding="utf-8")
        examples = FENCE_SYNTAX_BLOCK.findall(text)
        if name == SHOWS_FENCE_SYNTAX:
            assert len(examples) >= 4, f"{name}: its fence-syntax examples are gone"
            text = FENCE_SYNTAX_BLOCK.sub("", text)
        elif examples:
            leaks.append(f"{name}: a fence-syntax block (allowed on {SHOWS_FENCE_SYNTAX} only)")
        for match in pattern.finditer(text):
            leaks.append(f"{name}: ...{match.group(0)}...")
    assert not leaks, "\n".join(leaks)


@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"Chromium not found at {CHROMIUM}; install Debian's chromium "
            "(apt-get install chromium) to run the browser test"
        )
        if os.environ.get(REQUIRE_BROWSER_ENV_VAR) == "1":
            pytest.fail(f"{reason} ({REQUIRE_BROWSER_ENV_VAR}=1 forbids skipping)", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


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
    assert code_blocks.count() >= 8
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
