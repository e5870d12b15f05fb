"""The modules of `stateful_collectors` import each other without a cycle.

Every module of src/stateful_collectors is parsed with `ast` and its imports
of `stateful_collectors.*` collected: at the top and inside functions alike
(an import in a function runs later, but a cycle through it still means two
modules that need each other), except those under `if TYPE_CHECKING:`, which
never run. A module depends on what it imports and on the packages above it
whose `__init__` the import runs: importing `stateful_collectors.state.stores.files`
runs `stateful_collectors/state/__init__.py` first, unless the importer is
itself inside `stateful_collectors.state` (its package is being imported
already). `from pkg import name` depends on `pkg.name` when that is a module,
and on `pkg` itself otherwise.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE_DIR = ROOT / "src" / "stateful_collectors"


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package under `package_dir`: dotted name -> file."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, except those in an `if TYPE_CHECKING:` block."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:  # the `else:` of `if TYPE_CHECKING:` does run
                if isinstance(other, ast.Import | ast.ImportFrom):
                    yield other
                yield from _imports(other)
        else:
            yield from _imports(child)


def _parents(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: the packages whose `__init__` importing `a.b.c` runs."""
    parts = name.split(".")
    return [".".join(parts[:index]) for index in range(1, len(parts))]


def dependencies(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that module `name` (its file `path`) depends on."""
    is_package = path.name == "__init__.py"
    own_package = name if is_package else name.rpartition(".")[0]
    running = {*_parents(name), name}  # being imported already while `name` runs
    found: set[str] = set()

    def depend_on(target: str) -> None:
        found.add(target)
        found.update(parent for parent in _parents(target) if parent not in running)

    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                depend_on(alias.name)
            continue
        if node.level:
            base_parts = own_package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            depend_on(submodule if submodule in modules else base)
    return {target for target in found if target in modules and target != name}


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    modules = module_names(package_dir)
    return {name: dependencies(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as `[a, b, ..., a]`, or `None` when there is none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


# ---------------------------------------------------------------- the package


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE_DIR)
    assert len(graph) >= 20, sorted(graph)  # a guard against a silent zero
    assert sum(len(targets) for targets in graph.values()) >= 20, graph
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


# ---------------------------------------------------------------- the check has teeth


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under `root`: {"a.py": source, "sub/__init__.py": source, ...}."""
    package = root / "pkg"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    package = write_package(
        tmp_path,
        {
            "a.py": "from pkg.b import helper\n",
            "b.py": "def helper():\n    from pkg import c\n",
            "c.py": "import pkg.a\n",
        },
    )
    graph = import_graph(package)
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


def test_a_cycle_through_a_parent_package_init_is_found(tmp_path):
    # `import pkg.sub.x` runs pkg/sub/__init__.py, which imports pkg.a: a -> sub -> a
    package = write_package(
        tmp_path,
        {
            "a.py": "import pkg.sub.x\n",
            "sub/__init__.py": "from pkg.a import A\n",
            "sub/x.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.x"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.a"]


def test_type_checking_imports_and_a_package_importing_its_own_modules_are_no_cycle(tmp_path):
    package = write_package(
        tmp_path,
        {
            "a.py": (
                "import typing\n"
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.b import B\n"
                "if typing.TYPE_CHECKING:\n    import pkg.b\n"
            ),
            "b.py": "from pkg.a import A\n",
            # the package re-exports its modules, which import each other relatively
            "sub/__init__.py": "from .x import X\nfrom .y import Y\n",
            "sub/x.py": "from .y import Y\n",
            "sub/y.py": "from . import z\n",
            "sub/z.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == set()
    assert graph["pkg.sub"] == {"pkg.sub.x", "pkg.sub.y"}
    assert graph["pkg.sub.x"] == {"pkg.sub.y"}
    assert graph["pkg.sub.y"] == {"pkg.sub.z"}
    assert find_cycle(graph) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from pkg.sub import Y\n", {"pkg.sub"}),  # a name defined by the package's __init__
        ("from pkg.sub import y\n", {"pkg.sub", "pkg.sub.y"}),  # a module of the package
        ("import pkg.sub.y as y\n", {"pkg.sub", "pkg.sub.y"}),
    ],
    ids=["a-name-of-a-package", "a-module-of-a-package", "import-as"],
)
def test_what_an_import_depends_on(tmp_path, source, expected):
    package = write_package(tmp_path, {"a.py": source, "sub/__init__.py": "", "sub/y.py": ""})
    assert import_graph(package)["pkg.a"] == expected
