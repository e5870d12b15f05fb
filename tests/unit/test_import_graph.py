"""How the modules of `stateful_collectors` may import each other: no cycle, and layers.

Every module of src/stateful_collectors is parsed with `ast` and its imports
of `stateful_collectors.*` collected, in three kinds:

* **at run time**: at the top, and inside functions too (an import in a
  function runs later, but a cycle through it still means two modules that
  need each other);
* **for type checking**: under `if TYPE_CHECKING:` (never run, but a cycle
  through one is two modules that cannot be understood one without the
  other, and one step from a circular import at run time);
* **by name**: a string that names a module of the package, or `module:Class`
  in it, which the module imports with `importlib` (the package's lazy public
  names, the registries of sinks and stores); the name of a package that
  encloses the module (a logger's name) is none.

A module depends on what it imports and on the packages above it whose
`__init__` the import runs: importing `stateful_collectors.state.stores.files`
runs `stateful_collectors/state/__init__.py` first, unless the importer is
itself inside `stateful_collectors.state` (its package is being imported
already). `from pkg import name` depends on `pkg.name` when that is a module,
and on `pkg` itself otherwise.

The rules, over all three kinds:

* no cycle;
* the library (every module outside `command/` and `demo/`) imports nothing
  of the `stateful-collectors` command (`command/`, and `__main__`, which runs
  it) nor of the demo feed (`demo/`): a collector never needs them.

The test of the package reports one line in the run's summary: the modules,
the imports of each kind, and the imports that cross a layer.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE_DIR = ROOT / "src" / "stateful_collectors"

RUN, TYPES, NAMED = "run", "types", "named"
"""The kinds of an import: run when the module (or one of its functions) runs; made only for
type checking; made by name (importlib)."""

LAYERS = {"command": ("command", "__main__"), "demo": ("demo",)}
"""The layers outside the library, by the first part of the module's name after the package's."""
LIBRARY = "library"

_NAMED_MODULE = re.compile(r"[A-Za-z_][\w.]*(?::[\w.]+)?")


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


def _imports(node: ast.AST, kind: str = RUN) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement under `node`, with its kind: `RUN`, or `TYPES` under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, kind
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch, branch_kind in ((child.body, TYPES), (child.orelse, kind)):
                for statement in branch:  # the `else:` of `if TYPE_CHECKING:` does run
                    if isinstance(statement, ast.Import | ast.ImportFrom):
                        yield statement, branch_kind
                    yield from _imports(statement, branch_kind)
        else:
            yield from _imports(child, kind)


def _named_modules(tree: ast.AST, modules: dict[str, Path]) -> Iterator[str]:
    """Modules of the package that a string names: `"pkg.mod"` or `"pkg.mod:Name"`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _NAMED_MODULE.fullmatch(node.value):
                name = node.value.partition(":")[0]
                if name in modules:
                    yield name


def _parents(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: the packages whose `__init__` importing `a.b.c` runs."""
    parts = name.split(".")
    return [".".join(parts[:index]) for index in range(1, len(parts))]


_STRENGTH = {RUN: 0, TYPES: 1, NAMED: 2}  # two imports of one module: the one that runs counts


def dependencies(name: str, path: Path, modules: dict[str, Path]) -> dict[str, str]:
    """The modules of the package that module `name` (its file `path`) depends on, by kind."""
    is_package = path.name == "__init__.py"
    own_package = name if is_package else name.rpartition(".")[0]
    running = {*_parents(name), name}  # being imported already while `name` runs
    found: dict[str, str] = {}

    def depend_on(target: str, kind: str) -> None:
        for module in (target, *(p for p in _parents(target) if p not in running)):
            if module not in found or _STRENGTH[kind] < _STRENGTH[found[module]]:
                found[module] = kind

    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node, kind in _imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                depend_on(alias.name, kind)
            continue
        if node.level:
            base_parts = own_package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            depend_on(submodule if submodule in modules else base, kind)
    for target in _named_modules(tree, modules):
        if target not in running:  # an enclosing package's name (a logger's) imports nothing
            depend_on(target, NAMED)
    return {target: kind for target, kind in found.items() if target in modules and target != name}


def import_graph(package_dir: Path) -> dict[str, dict[str, str]]:
    """module -> {module it imports: kind}, for every module of the package."""
    modules = module_names(package_dir)
    return {name: dependencies(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
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


def show_cycle(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    """`a -> b (types) -> a`: each step with its kind when it does not run at import."""
    steps = [cycle[0]]
    for source, target in zip(cycle, cycle[1:], strict=False):
        kind = graph[source][target]
        steps.append(target if kind == RUN else f"{target} ({kind})")
    return " -> ".join(steps)


def layer_of(module: str) -> str:
    """`command`, `demo` or `library`: the layer a module of the package belongs to."""
    first = module.split(".")[1] if "." in module else ""
    return next((layer for layer, tops in LAYERS.items() if first in tops), LIBRARY)


def layer_violations(graph: dict[str, dict[str, str]]) -> list[str]:
    """Every import from the library into `command/` or `demo/`, as `a -> b (kind)`."""
    return [
        f"{source} -> {target} ({kind})"
        for source, targets in sorted(graph.items())
        for target, kind in sorted(targets.items())
        if layer_of(source) == LIBRARY and layer_of(target) != LIBRARY
    ]


def describe(graph: dict[str, dict[str, str]]) -> str:
    """One line: the modules by layer, the imports by kind, the imports between layers."""
    layers = Counter(layer_of(module) for module in graph)
    kinds = Counter(kind for targets in graph.values() for kind in targets.values())
    crossing = Counter(
        f"{layer_of(source)}->{layer_of(target)}"
        for source, targets in graph.items()
        for target in targets
        if layer_of(source) != layer_of(target)
    )
    return (
        f"{len(graph)} modules ({', '.join(f'{layers[n]} {n}' for n in (LIBRARY, *LAYERS))}); "
        f"{sum(kinds.values())} imports ({kinds[RUN]} at run time, {kinds[TYPES]} for type "
        f"checking, {kinds[NAMED]} by name); between layers: "
        f"{', '.join(f'{pair} {count}' for pair, count in sorted(crossing.items()))}; "
        "no cycle; the library imports nothing of command/ or demo/"
    )


# ---------------------------------------------------------------- the package


def test_the_package_has_no_import_cycle_and_the_library_imports_no_command_or_demo(
    summary: Callable[[str], None],
):
    graph = import_graph(PACKAGE_DIR)
    assert len(graph) >= 30, sorted(graph)  # a guard against a silent zero
    assert {layer_of(module) for module in graph} == {LIBRARY, *LAYERS}, sorted(graph)
    assert (
        "stateful_collectors.state.stores.postgresql" in graph["stateful_collectors.state.stores"]
    )
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {show_cycle(cycle or [], graph)}"
    violations = layer_violations(graph)
    assert not violations, "the library imports the command or the demo:\n" + "\n".join(violations)
    summary(describe(graph))


# ---------------------------------------------------------------- the checks have teeth


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
    assert graph["pkg.a"] == {"pkg.sub": RUN, "pkg.sub.x": RUN}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.a"]


def test_a_cycle_through_imports_for_type_checking_is_found(tmp_path):
    package = write_package(
        tmp_path,
        {
            "a.py": (
                "import typing\n"
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.b import B\n"
                "if typing.TYPE_CHECKING:\n    import pkg.c\n"
                "else:\n    import pkg.d\n"
            ),
            "b.py": "from pkg.a import A\n",
            "c.py": "",
            "d.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b": TYPES, "pkg.c": TYPES, "pkg.d": RUN}
    cycle = find_cycle(graph)
    assert cycle == ["pkg.a", "pkg.b", "pkg.a"]
    assert show_cycle(cycle, graph) == "pkg.a -> pkg.b (types) -> pkg.a"


def test_a_cycle_through_a_module_named_in_a_string_is_found(tmp_path):
    package = write_package(
        tmp_path,
        {
            "registry.py": 'PLUGINS = ["pkg.plugins.one:One", "not.ours:X", "pkg.nothing"]\n',
            "plugins/__init__.py": "",
            "plugins/one.py": "from pkg.registry import PLUGINS\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.registry"] == {"pkg.plugins.one": NAMED, "pkg.plugins": NAMED}
    assert find_cycle(graph) == ["pkg.plugins.one", "pkg.registry", "pkg.plugins.one"]


def test_a_package_importing_its_own_modules_is_no_cycle(tmp_path):
    package = write_package(
        tmp_path,
        {
            # the package re-exports its modules, which import each other relatively
            "sub/__init__.py": "from .x import X\nfrom .y import Y\n",
            "sub/x.py": "from .y import Y\n",
            "sub/y.py": "from . import z\n",
            "sub/z.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.sub"] == {"pkg.sub.x": RUN, "pkg.sub.y": RUN}
    assert graph["pkg.sub.x"] == {"pkg.sub.y": RUN}
    assert graph["pkg.sub.y"] == {"pkg.sub.z": RUN}
    assert find_cycle(graph) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from pkg.sub import Y\n", {"pkg.sub": RUN}),  # a name defined by the package's __init__
        ("from pkg.sub import y\n", {"pkg.sub": RUN, "pkg.sub.y": RUN}),  # a module of it
        ("import pkg.sub.y as y\n", {"pkg.sub": RUN, "pkg.sub.y": RUN}),
        (  # imported for types and at run time: it runs
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.sub.y\n"
            "def f():\n    import pkg.sub.y\n",
            {"pkg.sub": RUN, "pkg.sub.y": RUN},
        ),
    ],
    ids=["a-name-of-a-package", "a-module-of-a-package", "import-as", "types-and-run"],
)
def test_what_an_import_depends_on(tmp_path, source, expected):
    package = write_package(tmp_path, {"a.py": source, "sub/__init__.py": "", "sub/y.py": ""})
    assert import_graph(package)["pkg.a"] == expected


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("state/mixin.py", "def f():\n    from stateful_collectors.command import cli\n"),
        (
            "collectors/base.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from stateful_collectors.demo import DemoFeed\n",
        ),
        ("__init__.py", '_EXPORTS = {"main": "stateful_collectors.command.cli"}\n'),
    ],
    ids=["in-a-function", "for-type-checking", "by-name"],
)
def test_the_library_importing_the_command_or_the_demo_is_found(tmp_path, module, source):
    # A copy of the package, with one import added where the library must not have it.
    copy = tmp_path / "stateful_collectors"
    for path in PACKAGE_DIR.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"))
    assert layer_violations(import_graph(copy)) == []
    with (copy / module).open("a", encoding="utf-8") as file:
        file.write("\n" + source)
    violations = layer_violations(import_graph(copy))
    importer = ".".join(["stateful_collectors", *Path(module).with_suffix("").parts])
    assert violations, "the added import was not found"
    assert all(v.startswith(f"{importer.removesuffix('.__init__')} -> ") for v in violations)


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("stateful_collectors", LIBRARY),
        ("stateful_collectors.state.stores.files", LIBRARY),
        ("stateful_collectors.runtime.runner", LIBRARY),
        ("stateful_collectors.command.cli", "command"),
        ("stateful_collectors.__main__", "command"),
        ("stateful_collectors.demo", "demo"),
        ("stateful_collectors.demo.feed", "demo"),
    ],
)
def test_the_layer_of_a_module(module, layer):
    assert layer_of(module) == layer
