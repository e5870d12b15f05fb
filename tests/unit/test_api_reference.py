"""The API reference shows the public names, and the maintainers' page the rest: in step.

A name is *public* when it is in the `__all__` of one of `PUBLIC_MODULES` (a
package's `__all__` may re-export a name defined elsewhere: it counts where it
is defined). The reader's reference (`docs/reference/api.md`) documents exactly
the public names; the maintainers' page (`docs/about/internals.md`) documents exactly
every other name the package defines (each module's top-level names that do
not start with an underscore). The pages name what they show with
mkdocstrings' `::: path` blocks: an object, or a module with the list of its
`members` (or `members: false`, its docstring alone). The classes the
reference shows with a `members` list show there what a collector's author
uses; each of their other methods and attributes is on the maintainers' page.
Every module's docstring is on one of the two pages.

The package is read as mkdocstrings reads it (griffe, from the source): a name
re-exported by a package (`stateful_collectors.BaseCollector`) is the object
it names (`stateful_collectors.collectors.base.BaseCollector`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import griffe
import pytest

from tests.support import ROOT

READER_PAGES = [ROOT / "docs" / "reference" / "api.md"]
MAINTAINERS_PAGE = ROOT / "docs" / "about" / "internals.md"

PUBLIC_MODULES = [
    "stateful_collectors",
    "stateful_collectors.collectors.base",
    "stateful_collectors.collectors.simple",
    "stateful_collectors.collectors.downloading",
    "stateful_collectors.collectors.rows",
    "stateful_collectors.state",
    "stateful_collectors.state.mixin",
    "stateful_collectors.state.codecs",
    "stateful_collectors.state.stores.files",
    "stateful_collectors.state.stores.postgresql",
    "stateful_collectors.sinks",
    "stateful_collectors.sinks.outbox",
    "stateful_collectors.config",
    "stateful_collectors.errors",
    "stateful_collectors.testing",
    "stateful_collectors.http",
    "stateful_collectors.runtime.runner",
    "stateful_collectors.command.state_view",
    "stateful_collectors.demo",
    "stateful_collectors.demo.feed",
    "stateful_collectors.demo.cookbook",
    "stateful_collectors.n6",
]
"""The modules whose `__all__` is the public API, in the order the reference shows them."""

NOT_NAMES = {"log"}
"""Top-level names that are no API: the modules' loggers."""

_DIRECTIVE = re.compile(r"^::: (?P<path>\S+)\n(?P<options>(?:    .*\n)*)", re.M)
_MEMBERS = re.compile(r"^      members: (?P<value>false|\[.*\])$", re.M)


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    return griffe.load("stateful_collectors", search_paths=[ROOT / "src"])


def _object(package: griffe.Module, path: str) -> griffe.Object:
    found = package if path == package.path else package[path.removeprefix(package.path + ".")]
    return found.final_target if isinstance(found, griffe.Alias) else found


def _modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for submodule in module.modules.values():
        if not submodule.is_alias:
            yield from _modules(submodule)


def _own_names(obj: griffe.Object) -> list[str]:
    """What a module or class defines itself (no import, no underscore, no logger)."""
    return [
        name
        for name, member in obj.members.items()
        if not member.is_alias
        and not member.is_module
        and not name.startswith("_")
        and name not in NOT_NAMES
    ]


def directives(page: Path) -> list[tuple[str, list[str] | None | bool]]:
    """The `::: path` blocks of a page: the path, and its `members` (list, False, or None)."""
    found: list[tuple[str, list[str] | None | bool]] = []
    for match in _DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
        members = _MEMBERS.search(match["options"])
        if members is None:
            found.append((match["path"], None))
        elif members["value"] == "false":
            found.append((match["path"], False))
        else:
            found.append((match["path"], [m.strip() for m in members["value"][1:-1].split(",")]))
    return found


def documented(package: griffe.Module, pages: list[Path]) -> tuple[list[str], list[str]]:
    """The objects the pages show (by the path where they are defined), and their modules.

    A name shown twice is listed twice.
    """
    objects: list[str] = []
    modules: list[str] = []
    for page in pages:
        for path, members in directives(page):
            obj = _object(package, path)
            if obj.is_module:
                assert members is not None, f"{page.name}: ::: {path} needs `members:`"
                modules.append(obj.path)
            else:
                objects.append(obj.path)
            for member in members or ():
                objects.append(_object(package, f"{path}.{member}").path)
    return objects, modules


def module_level(package: griffe.Module, shown: list[str]) -> list[str]:
    """The names of `shown` defined at a module's top level (not a class's members)."""
    return [path for path in shown if _object(package, path).parent.is_module]


def public_names(package: griffe.Module) -> set[str]:
    names = set()
    for module_path in PUBLIC_MODULES:
        module = _object(package, module_path)
        assert module.exports is not None, f"{module_path} has no __all__"
        for name in module.exports:
            names.add(_object(package, f"{module_path}.{name}").path)
    return names


def defined_names(package: griffe.Module) -> set[str]:
    return {f"{module.path}.{name}" for module in _modules(package) for name in _own_names(module)}


def _differences(expected: set[str], shown: list[str], where: str) -> list[str]:
    problems = [f"{name}: not on {where}" for name in sorted(expected - set(shown))]
    problems += [
        f"{name}: on {where}, but it should not be" for name in sorted(set(shown) - expected)
    ]
    problems += [
        f"{name}: twice on {where}" for name in sorted({n for n in shown if shown.count(n) > 1})
    ]
    return problems


def test_the_reference_shows_exactly_the_public_names(package):
    public = public_names(package)
    shown, _ = documented(package, READER_PAGES)
    assert len(public) > 60, sorted(public)  # a guard against a silent zero
    problems = _differences(public, module_level(package, shown), "the API reference")
    assert not problems, "\n".join(problems)


def test_the_maintainers_page_shows_every_other_name(package):
    internal = defined_names(package) - public_names(package)
    shown, _ = documented(package, [MAINTAINERS_PAGE])
    assert len(internal) > 60, sorted(internal)
    problems = _differences(internal, module_level(package, shown), "the maintainers' page")
    assert not problems, "\n".join(problems)


def test_a_class_shows_its_own_members_on_one_page_or_the_other(package):
    reader = [(p, m) for page in READER_PAGES for p, m in directives(page)]
    internal, _ = documented(package, [MAINTAINERS_PAGE])
    problems = []
    checked = 0
    for path, members in reader:
        obj = _object(package, path)
        if not obj.is_class or not isinstance(members, list):
            continue
        for name in _own_names(obj):
            where = [name in members, f"{obj.path}.{name}" in internal]
            checked += 1
            if where.count(True) != 1:
                shown = "on both pages" if all(where) else "on neither page"
                problems.append(f"{obj.path}.{name}: {shown}")
    for path in internal:
        obj = _object(package, path)
        if obj.parent is not None and obj.parent.is_class:
            listed = dict(reader).get(obj.parent.path)
            if not isinstance(listed, list):
                problems.append(f"{path}: its class is shown whole on the API reference")
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_every_module_has_its_docstring_on_one_page(package):
    _, reader = documented(package, READER_PAGES)
    _, maintainers = documented(package, [MAINTAINERS_PAGE])
    problems = _differences(
        {module.path for module in _modules(package)}, reader + maintainers, "the two pages"
    )
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the checks have teeth


def test_a_public_name_missing_from_the_reference_is_found(package, tmp_path):
    page = tmp_path / "api.md"
    text = READER_PAGES[0].read_text(encoding="utf-8")
    page.write_text(
        text.replace("members: [collect, make_config, CollectedRun]", "members: [collect]")
    )
    shown, _ = documented(package, [page])
    missing = public_names(package) - set(module_level(package, shown))
    assert missing == {
        "stateful_collectors.testing.make_config",
        "stateful_collectors.testing.CollectedRun",
    }


def test_an_internal_name_on_the_reference_is_found(package, tmp_path):
    page = tmp_path / "api.md"
    text = READER_PAGES[0].read_text(encoding="utf-8")
    page.write_text(text + "\n::: stateful_collectors.fs.write_durably\n")
    shown, _ = documented(package, [page])
    extra = set(module_level(package, shown)) - public_names(package)
    assert extra == {"stateful_collectors.fs.write_durably"}


def test_directives_are_read_with_their_members(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n::: a.b\n    options:\n      heading_level: 3\n      members: [X, y]\n\n"
        "::: a.c\n    options:\n      members: false\n\n::: a.d.Z\n\ntext ::: not.this\n"
    )
    assert directives(page) == [("a.b", ["X", "y"]), ("a.c", False), ("a.d.Z", None)]
