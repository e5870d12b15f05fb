"""The built guide: `built_site` (MkDocs and Material, the site's build), `zensical_site`
(the same sources built by Zensical), each built once per session, and `served_site`.

Zensical writes its site inside the project it builds (it refuses a `site_dir`
outside the folder of mkdocs.yml), so `zensical_site` builds a copy of the
sources the site is made of (`SITE_SOURCES`) in a temporary directory; its
downloads are made from that copy.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT, clean_env

__all__ = [
    "BUILD_SECONDS",
    "SITE_SOURCES",
    "ZensicalBuild",
    "built_site",
    "external_urls",
    "page_resources",
    "serve_directory",
    "served_site",
    "zensical_build",
    "zensical_site",
]

BUILD_SECONDS: dict[str, float] = {}
"""How long each build of this session took, by name (`material`, `zensical`), as measured."""


class _InertLoader(yaml.SafeLoader):
    """YAML's safe loader that reads mkdocs.yml's `!!python/...` tags as plain values.

    The tags name code that the builds run (the fences' renderer, the downloads);
    reading the file here must not run it.
    """


def _inert(loader: _InertLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_InertLoader.add_multi_constructor("tag:yaml.org,2002:python/", _inert)


def mkdocs_config() -> dict[str, Any]:
    """mkdocs.yml as data, its Python tags left unrun."""
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_InertLoader)


SITE_SOURCES = ("mkdocs.yml", "docs", *mkdocs_config()["watch"])
"""What the site is built from: the config, the pages, and what mkdocs.yml watches (the
library for the API pages and the wheel, the examples, the changelog the site includes...)."""


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide built with `mkdocs build --strict` into a temporary directory."""
    site = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=clean_env(NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stderr[-5000:]}", pytrace=False)
    BUILD_SECONDS["material"] = time.monotonic() - started
    return site


class ZensicalBuild:
    """One `zensical build --strict` of a copy of the sources: where, what it printed, how long."""

    def __init__(self, project: Path, output: str, seconds: float) -> None:
        self.project = project
        self.site = project / "site"
        self.output = output
        self.seconds = seconds


def copy_site_sources(into: Path) -> Path:
    """The files the site is built from, copied into `into` (no caches, no downloads)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "downloads")
    into.mkdir(parents=True, exist_ok=True)
    for name in SITE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)
    return into


def run_zensical(project: Path) -> ZensicalBuild:
    """`zensical build --strict` in `project`; fails the test with its output if it fails."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "zensical", "build", "--strict"],
        cwd=project,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # in the order it printed them
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    output = result.stdout.strip()
    if result.returncode != 0:
        pytest.fail(f"zensical build --strict failed:\n{output[-5000:]}", pytrace=False)
    return ZensicalBuild(project, output, seconds)


@pytest.fixture(scope="session")
def zensical_build(tmp_path_factory: pytest.TempPathFactory) -> ZensicalBuild:
    """The guide built by Zensical (`zensical build --strict`) from a copy of its sources."""
    build = run_zensical(copy_site_sources(tmp_path_factory.mktemp("zensical")))
    BUILD_SECONDS["zensical"] = build.seconds
    return build


@pytest.fixture(scope="session")
def zensical_site(zensical_build: ZensicalBuild) -> Path:
    """The directory of the Zensical build's site."""
    return zensical_build.site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A browser that closed a tab while a file was on its way is no error of the site."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """A built site served over HTTP on a free loopback port; yields its base URL."""

    def handler(*args, **kwargs):
        return _QuietHandler(*args, directory=str(directory), **kwargs)

    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def served_site(built_site: Path) -> Iterator[str]:
    """The built site served over HTTP on a free loopback port; yields its base URL.

    Module-scoped: its server thread must be gone before later tests fork.
    """
    with serve_directory(built_site) as url:
        yield url


class _Resources(HTMLParser):
    """What a page loads: images, scripts, stylesheets, icons, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("img", "script", "iframe", "source", "video", "audio", "embed") and values.get(
            "src"
        ):
            self.found.append((tag, values["src"] or ""))
        if tag == "link" and values.get("href"):
            rel = values.get("rel") or ""
            if any(word in rel.split() for word in ("stylesheet", "icon", "preload", "manifest")):
                self.found.append((tag, values["href"] or ""))
        if tag == "object" and values.get("data"):
            self.found.append((tag, values["data"] or ""))


def page_resources(text: str) -> list[tuple[str, str]]:
    """What a page's HTML loads, as (tag, URL): images, scripts, stylesheets, icons, frames."""
    parser = _Resources()
    parser.feed(text)
    return parser.found


_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:|^//", re.I)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def external_urls(site: Path) -> list[str]:
    """Every URL outside the site that a page or a stylesheet of `site` loads (`data:` aside).

    Pages: images, scripts, stylesheets, icons, frames; stylesheets: `url(...)`
    (fonts, images) and `@import`.
    """
    found = []
    for page in sorted(site.rglob("*.html")):
        for tag, url in page_resources(page.read_text(encoding="utf-8")):
            if _EXTERNAL.match(url) and not url.startswith("data:"):
                found.append(f"{page.relative_to(site)}: <{tag}> {url}")
    for sheet in sorted(site.rglob("*.css")):
        for match in _CSS_URL.finditer(sheet.read_text(encoding="utf-8", errors="replace")):
            url = match.group(1) or match.group(2)
            if _EXTERNAL.match(url) and not url.startswith("data:"):
                found.append(f"{sheet.relative_to(site)}: {url}")
    return found
