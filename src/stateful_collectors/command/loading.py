"""Finding a collector class from the command line: `MODULE:CLASS`, and a module's collectors.

`MODULE` is a dotted module name importable from the current directory
(`examples.my_collector`) or a path to a Python file (`examples/my_collector.py`).

`script_entries()` (the `stateful-collectors scripts` command) prints the
`[project.scripts]` lines that make a module's collectors commands, each
pointing at its class's `cli_main`. (n6's way, `<ClassName>_main` functions,
is `add_collector_entry_point_functions()` in `stateful_collectors.collectors.base`.)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from stateful_collectors.collectors.base import AbstractBaseCollector, BaseCollector, QueuedBase
from stateful_collectors.errors import CollectorImportError, UsageError, describe_exception

__all__ = ["load_collector_class", "script_entries"]


def _is_path(module_part: str) -> bool:
    return module_part.endswith(".py") or os.sep in module_part


def _import_module(module_part: str) -> ModuleType:
    """Import a dotted module, or a .py file as a module named after its stem."""
    if _is_path(module_part):
        path = Path(module_part)
        if not path.is_file():
            raise UsageError(f"{path}: no such Python file")
        module_name = path.stem
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except SystemExit as exc:
            del sys.modules[module_name]
            raise _exited_on_import(str(path), exc) from None
        except Exception as exc:
            del sys.modules[module_name]
            raise CollectorImportError(f"cannot import {path}: {describe_exception(exc)}") from exc
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_part)
    except SystemExit as exc:
        raise _exited_on_import(module_part, exc) from None
    except Exception as exc:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if missing and (module_part == missing or module_part.startswith(missing + ".")):
            raise UsageError(
                f"no module named {missing!r} (from {module_part!r}); run from the directory "
                "that contains it, or give the path to the .py file"
            ) from None
        raise CollectorImportError(
            f"cannot import {module_part}: {describe_exception(exc)}"
        ) from exc


def _exited_on_import(module: str, exc: SystemExit) -> UsageError:
    return UsageError(
        f"{module} called sys.exit({exc.code!r}) while being imported, so it names no collector; "
        'run its code only under `if __name__ == "__main__":`'
    )


def _why_not_runnable(cls: type[AbstractBaseCollector]) -> str | None:
    """Why a collector class cannot be run as it is (an abstract base), or `None`."""
    if cls.__module__.split(".")[0] == "stateful_collectors":
        return "is one of the library's base classes; run a subclass of your own"
    if issubclass(cls, BaseCollector) and cls.raw_type is None:
        return "is an abstract base (it sets no raw_type); run a subclass that sets one"
    if cls.run is AbstractBaseCollector.run:
        return "defines no run(); run a subclass that does"
    if (
        issubclass(cls, QueuedBase)
        and cls.run is QueuedBase.run
        and cls.start_publishing is QueuedBase.start_publishing
    ):
        return "defines no start_publishing(); run a subclass that does"
    abstract = getattr(cls, "__abstractmethods__", None)
    if abstract:
        return f"is abstract (it lacks {', '.join(sorted(abstract))}); run a concrete subclass"
    return None


def load_collector_class(target: str, *, to_run: bool = True) -> type[AbstractBaseCollector]:
    """Import `MODULE:CLASS` (dotted module or path to a .py file) and return the class.

    With `to_run` (the `run` command), an abstract class is refused too: one
    of the library's bases, or a class without `raw_type`, `run()` or
    `start_publishing()`. The `state` commands only need the class's config
    and state, and pass `to_run=False`.

    Raises:
        UsageError: the target is malformed, names nothing, names an abstract
            class, or its module exits while being imported (exit status 2).
        CollectorImportError: the module raised while being imported (exit status 1).
    """
    module_part, sep, class_part = target.rpartition(":")
    if not sep or not module_part or not class_part:
        raise UsageError(
            f"{target!r} is not MODULE:CLASS; write e.g. examples.my_collector:MyStatefullCollector"
        )
    module = _import_module(module_part)
    obj: object = module
    for attribute in class_part.split("."):
        obj = getattr(obj, attribute, None)
        if obj is None:
            raise UsageError(f"module {module.__name__!r} has no class {class_part!r}")
    if not (isinstance(obj, type) and issubclass(obj, AbstractBaseCollector)):
        raise UsageError(f"{target!r} is not a collector class (a subclass of BaseCollector)")
    reason = _why_not_runnable(obj) if to_run else None
    if reason is not None:
        raise UsageError(f"{target!r} {reason}")
    return obj


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()


def script_entries(module_name: str) -> list[tuple[str, str]]:
    """`(command, entry point)` for every collector class defined in a module.

    The command is `collector-` and the collector's config section with `_`
    turned into `-` (the class name when it has no `config_spec`); the entry
    point is the class's `cli_main`. Classes without a `raw_type` (abstract
    bases) are left out.
    """
    if _is_path(module_name) or ":" in module_name:
        raise UsageError(
            f"{module_name!r}: give the module's dotted import name (e.g. my_package.collectors), "
            "the one the installed package is imported by"
        )
    module = _import_module(module_name)
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, AbstractBaseCollector)
        and obj.__module__ == module.__name__
        and not (issubclass(obj, BaseCollector) and obj.raw_type is None)
    ]
    if not classes:
        raise UsageError(f"module {module_name!r} defines no collector class")
    names = {}
    for cls in classes:
        spec = cls.get_config_spec()
        base = spec.main_section if spec is not None else cls.__name__
        names[cls] = f"collector-{_kebab(base)}"
    clashing = {name for name in names.values() if list(names.values()).count(name) > 1}
    return [
        (
            f"{name}-{_kebab(cls.__name__)}" if name in clashing else name,
            f"{module.__name__}:{cls.__qualname__}.cli_main",
        )
        for cls, name in names.items()
    ]
