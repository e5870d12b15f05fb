"""The built guide, checked as files and in a real browser.

The site is built once per session (`mkdocs build --strict`, see tests/support/site.py)
and served over HTTP on a loopback port. The browser is Debian's Chromium
(`/usr/bin/chromium`, or `$STATEFUL_COLLECTORS_CHROMIUM`), headless, driven by
Playwright through `executable_path`: no browser is downloaded. Without
Chromium the browser tests are skipped with the reason, unless
`STATEFUL_COLLECTORS_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure;
a path that does not exist hides the browser (`.ci/run`'s second pass).

Every page is opened at 1280 px: nothing is requested from another origin,
every image loads, no code line is wider than its box (a transcript's output
wraps, as in a terminal), no name in a table is cut inside a word, a table
wider than the page scrolls, and every diagram's text fits its box. Pages
with diagrams are opened again in the dark theme, and in both the diagrams'
text must keep a contrast of 4.5:1.
The file-level checks of the same site are in test_site.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("STATEFUL_COLLECTORS_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER_ENV_VAR = "STATEFUL_COLLECTORS_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed when running as root
    "--disable-gpu",
    "--disable-background-networking",  # no calls home: the machine may have no network
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CENTERPIECE = "stateful-collectors/"
WIDTH = 1280
"""The window width every page is checked at: a laptop's, and the guide's reference."""
MIN_CONTRAST = 4.5
"""WCAG's minimum contrast for text (AA), asked of every diagram's text in both themes."""


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


_PAGE_CHECKS = r"""
() => {
  const problems = [];
  const article = document.querySelector("article") || document.body;
  for (const img of document.querySelectorAll("img")) {
    if (!img.complete || img.naturalWidth === 0) problems.push(`image not loaded: ${img.src}`);
  }
  for (const code of article.querySelectorAll("pre > code")) {
    const wraps = getComputedStyle(code).whiteSpace.startsWith("pre-wrap");
    if (!wraps && code.scrollWidth > code.clientWidth + 1) {
      const lines = code.innerText.split("\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      const widths = `${code.scrollWidth} > ${code.clientWidth} px`;
      problems.push(`code wider than its box (${widths}): ${longest.trim().slice(0, 90)}`);
    }
  }
  for (const code of article.querySelectorAll("table code")) {
    const name = code.textContent;
    // A Python name (letters, digits, _ . and ()) has no place to break: more than
    // one line box means the browser cut it inside a word.
    if (/^[\w.()]+$/.test(name) && code.getClientRects().length > 1) {
      problems.push(`a name in a table is cut inside a word: ${name.slice(0, 60)}`);
    }
  }
  for (const table of article.querySelectorAll("table")) {
    let box = table.parentElement;
    const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
    while (box && box !== article && !scrolls(box)) {
      box = box.parentElement;
    }
    const room = (box && box !== article ? box : article).clientWidth;
    if (table.scrollWidth > room + 1 && (!box || box === article)) {
      problems.push(`table clipped: ${table.scrollWidth} px in ${room} px, and nothing scrolls`);
    }
  }
  return problems;
}
"""

_DIAGRAM_CHECKS = r"""
(minContrast) => {
  const problems = [];
  const rgba = (text) => {
    const m = text.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const lum = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const contrast = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const page = rgba(getComputedStyle(document.body).backgroundColor);
  let boxes = 0;
  for (const svg of document.querySelectorAll("svg.sc-diagram__svg")) {
    const view = svg.viewBox.baseVal;
    for (const cell of svg.querySelectorAll("g.sc-cell")) {
      boxes++;
      const rect = cell.querySelector("rect");
      const text = cell.querySelector("text");
      const r = rect.getBBox(), t = text.getBBox();
      const label = text.textContent.trim().slice(0, 50);
      const inside = t.x >= r.x && t.y >= r.y && t.x + t.width <= r.x + r.width
        && t.y + t.height <= r.y + r.height;
      if (!inside) {
        problems.push(`diagram text out of its box: "${label}"`);
      }
      const fill = over(rgba(getComputedStyle(rect).fill), page);
      const ink = over(rgba(getComputedStyle(text).fill), fill);
      const ratio = contrast(ink, fill);
      if (ratio < minContrast) {
        problems.push(`diagram text contrast ${ratio.toFixed(2)}: "${label}"`);
      }
    }
    for (const text of svg.querySelectorAll("text.sc-heading, text.sc-label")) {
      const t = text.getBBox();
      if (t.x < view.x - 0.5 || t.x + t.width > view.x + view.width + 0.5) {
        problems.push(`diagram heading outside the drawing: "${text.textContent}"`);
      }
      const ratio = contrast(over(rgba(getComputedStyle(text).fill), page), page);
      if (ratio < minContrast) problems.push(`diagram heading contrast ${ratio.toFixed(2)}`);
    }
  }
  return {problems, boxes};
}
"""


def _site_pages(built_site: Path) -> list[str]:
    pages = sorted(
        page.relative_to(built_site).as_posix().removesuffix("index.html")
        for page in built_site.rglob("index.html")
    )
    assert len(pages) > 20
    return pages


def _open(context, url: str, problems: list[str]):
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"{url}: page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"{url}: console error: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.goto(url, wait_until="load")
    return page


@pytest.mark.browser
def test_every_page_in_chromium(chromium, served_site: str, built_site: Path) -> None:
    """Each page at 1280 px: only the site's own requests, images, code widths, tables, diagrams."""
    outside: list[str] = []

    def only_the_site(route) -> None:
        url = route.request.url
        if url.startswith(served_site) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    problems: list[str] = []
    diagram_pages = []
    boxes = {"light": 0, "dark": 0}
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme="light")
    context.route("**/*", only_the_site)
    for path in _site_pages(built_site):
        url = f"{served_site}/{path}"
        page = _open(context, url, problems)
        problems.extend(f"{path or '/'}: {p}" for p in page.evaluate(_PAGE_CHECKS))
        if page.locator("svg.sc-diagram__svg").count():
            diagram_pages.append(path)
            found = page.evaluate(_DIAGRAM_CHECKS, MIN_CONTRAST)
            boxes["light"] += found["boxes"]
            problems.extend(f"{path or '/'} (light): {p}" for p in found["problems"])
        page.close()
    context.close()

    dark = chromium.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme="dark")
    dark.route("**/*", only_the_site)
    for path in diagram_pages:
        page = _open(dark, f"{served_site}/{path}", problems)
        scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert scheme == "slate", f"{path}: the dark theme did not apply ({scheme})"
        found = page.evaluate(_DIAGRAM_CHECKS, MIN_CONTRAST)
        boxes["dark"] += found["boxes"]
        problems.extend(f"{path or '/'} (dark): {p}" for p in found["problems"])
        page.close()
    dark.close()

    assert diagram_pages and boxes["light"] == boxes["dark"] > 0, (diagram_pages, boxes)
    problems.extend(f"requested from outside the site: {url}" for url in outside)
    assert not problems, "\n".join(problems)
