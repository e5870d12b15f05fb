"""Headless Chromium for the site's browser tests: the `chromium` fixture and the page checks.

The browser is Debian's Chromium (`/usr/bin/chromium`, or
`$STATEFUL_COLLECTORS_CHROMIUM`), headless, driven by Playwright through
`executable_path`: no browser is downloaded. Without Chromium the browser
tests are skipped with the reason, unless `STATEFUL_COLLECTORS_REQUIRE_BROWSER=1`
(set by `.ci/run`) makes that a failure; a path that does not exist hides the
browser (`.ci/run`'s second pass).

`PAGE_CHECKS` and `DIAGRAM_CHECKS` are scripts run in a page
(`page.evaluate`): what a reader would notice (an image not loaded, code wider
than its box, a name cut in a table, a clipped table; a diagram's text out of
its box or with too little contrast).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import skip_unless_required

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DIAGRAM_CHECKS",
    "MIN_CONTRAST",
    "PAGE_CHECKS",
    "chromium",
    "only_from",
    "Tab",
    "open_page",
    "site_pages",
]

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
MIN_CONTRAST = 4.5
"""WCAG's minimum contrast for text (AA), asked of every diagram's text in both themes."""


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Playwright's Browser), or a skip that says what to install."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"Chromium not found at {CHROMIUM}; install Debian's chromium "
            "(apt-get install chromium) to run the browser test"
        )
        skip_unless_required(reason, REQUIRE_BROWSER_ENV_VAR)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


PAGE_CHECKS = r"""
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

DIAGRAM_CHECKS = r"""
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


def site_pages(built_site: Path) -> list[str]:
    """Every page of a built site, as a path under its root (`""`, `stateful-collectors/`...)."""
    pages = sorted(
        page.relative_to(built_site).as_posix().removesuffix("index.html")
        for page in built_site.rglob("index.html")
    )
    assert len(pages) > 20
    return pages


class Tab:
    """One tab of `context` that visits page after page (a new tab per page costs half again).

    Its page errors and console errors go to `problems`, each with the URL it
    was showing.
    """

    def __init__(self, context, problems: list[str]) -> None:
        self.url = ""
        self.page = context.new_page()
        self.page.on("pageerror", lambda error: problems.append(f"{self.url}: page error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                problems.append(f"{self.url}: console error: {message.text}")
                if message.type == "error"
                else None
            ),
        )

    def visit(self, url: str):
        """Show `url` once it has loaded; return the page."""
        self.url = url
        self.page.goto(url, wait_until="load")
        return self.page


def open_page(context, url: str, problems: list[str]):
    """Open `url` in a new tab of `context`; its page errors and console errors go to `problems`."""
    return Tab(context, problems).visit(url)


def only_from(origin: str, outside: list[str]) -> Callable:
    """A route handler (`context.route("**/*", ...)`) that lets only `origin`'s requests through.

    Every other request is aborted and its URL noted in `outside`.
    """

    def handle(route) -> None:
        url = route.request.url
        if url.startswith(origin) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    return handle
