"""The `stateful-collectors` command, and `collector_main` for per-collector commands.

```text
stateful-collectors run MODULE:CLASS [--config FILE] [--verbose]
stateful-collectors state path|show|reset|set MODULE:CLASS [--config FILE] [--yes] [VALUE]
stateful-collectors scripts MODULE
stateful-collectors demo-feed [--port 8808] [--history 20] [--interval 10]
```

`MODULE` is a dotted module name importable from the current directory
(`examples.my_collector`) or a path to a Python file (`examples/my_collector.py`).
The state file's name comes from the module name, so give `run` and `state`
the same form.

`python -m stateful_collectors` is the same command.

Each run ends with one summary line on stderr and an exit status from
`stateful_collectors.errors.ExitStatus`: 0 success, 1 failure, 2 usage error,
3 config error, 4 state file error, 5 already running, 130 interrupted (Ctrl+C
or SIGTERM). User mistakes get one line and no traceback; `--verbose` adds
debug logs and the traceback of unexpected errors.

`state show`, `state reset` and `state set` take the collector's
single-instance lock, so they never race a running collector (exit status 5
while one runs); `state path` only prints where the file is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from stateful_collectors.errors import CollectorError, ExitStatus, describe_exception

TYPE_CHECKING = False  # not `from typing import ...`: typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = [
    "collector_main",
    "load_collector_class",
    "main",
    "run_collector",
    "script_entries",
]

log = logging.getLogger("stateful_collectors")

PROG = "stateful-collectors"


class UsageError(CollectorError):
    """The command line names something that does not exist."""

    exit_status = ExitStatus.USAGE_ERROR


class CollectorImportError(CollectorError):
    """The collector's module could not be imported (an error in its code)."""

    exit_status = ExitStatus.FAILURE


# ---------------------------------------------------------------- loading a collector


def _is_path(module_part: str) -> bool:
    return module_part.endswith(".py") or os.sep in module_part


def _import_module(module_part: str) -> Any:
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
        except Exception as exc:
            del sys.modules[module_name]
            raise CollectorImportError(f"cannot import {path}: {describe_exception(exc)}") from exc
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_part)
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


def load_collector_class(target: str) -> type:
    """Import `MODULE:CLASS` (dotted module or path to a .py file) and return the class.

    Raises:
        UsageError: the target is malformed or names nothing (exit status 2).
        CollectorImportError: the module raised while being imported (exit status 1).
    """
    from stateful_collectors.base import AbstractBaseCollector

    module_part, sep, class_part = target.rpartition(":")
    if not sep or not module_part or not class_part:
        raise UsageError(
            f"{target!r} is not MODULE:CLASS; write e.g. examples.my_collector:MyStatefullCollector"
        )
    module = _import_module(module_part)
    obj: Any = module
    for attribute in class_part.split("."):
        obj = getattr(obj, attribute, None)
        if obj is None:
            raise UsageError(f"module {module.__name__!r} has no class {class_part!r}")
    if not (isinstance(obj, type) and issubclass(obj, AbstractBaseCollector)):
        raise UsageError(f"{target!r} is not a collector class (a subclass of BaseCollector)")
    return obj


# ---------------------------------------------------------------- run


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not verbose:
        logging.getLogger("pika").setLevel(logging.CRITICAL)


def _raise_keyboard_interrupt(signum: int, _frame: Any) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def _file_identity(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _summary(collector: Any, outcome: str, state_saved: bool) -> str:
    published = getattr(collector, "published_count", 0)
    sink = getattr(collector, "sink_description", None)
    if outcome == "ok":
        text = f"ok: published {published} message(s)" + (f" to {sink}" if sink else "")
    else:  # "interrupted", or "failed: <reason>" (which may already name the sink)
        where = f" to {sink}" if sink and sink not in outcome else ""
        separator = ": " if outcome == "interrupted" else "; "
        done = (
            f"{published} message(s) published{where} before it stopped"
            if published
            else "nothing published"
        )
        text = f"{outcome}{separator}{done}"
    state_path = getattr(collector, "state_file_path", None)
    if state_path is not None:
        if state_saved:
            text += f"; state saved to {state_path}"
        else:
            text += "; state not saved (the next run starts from the previous state)"
    return text


def run_collector(
    cls: type, *, config_file: str | None = None, verbose: bool = False
) -> ExitStatus:
    """Run one collector as the command line does; return the exit status.

    Prints exactly one summary line on stderr: the outcome, how many messages
    were published and where, and whether the state was saved. Never raises for
    user mistakes; Ctrl+C and SIGTERM give `ExitStatus.INTERRUPTED` with the
    state not advanced.
    """
    _configure_logging(verbose)
    name = cls.__qualname__
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = (
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt) if in_main_thread else None
    )
    collector: Any = None
    state_before: tuple[int, int, int] | None = None
    did_nothing = False  # nothing was attempted: the line is the error alone
    try:
        try:
            collector = cls(config_file=config_file)
            state_before = _file_identity(getattr(collector, "state_file_path", None))
            collector.run_collection()
            status, outcome = ExitStatus.SUCCESS, "ok"
        except KeyboardInterrupt:
            status, outcome = ExitStatus.INTERRUPTED, "interrupted"
        except CollectorError as exc:
            status, outcome = exc.exit_status, f"failed: {exc}"
            if status == ExitStatus.INTERRUPTED:  # the collector's stop() was called
                outcome = "interrupted"
            if collector is None or exc.exit_status == ExitStatus.ALREADY_RUNNING:
                did_nothing, outcome = True, str(exc)
        except Exception as exc:
            if verbose:
                log.exception("%s failed", name)
            hint = "" if verbose else " (--verbose shows the traceback)"
            status, outcome = ExitStatus.FAILURE, f"failed: {describe_exception(exc)}{hint}"
            did_nothing = collector is None
        if collector is not None:
            try:
                collector.close()
            except KeyboardInterrupt:
                status, outcome = ExitStatus.INTERRUPTED, "interrupted"
            except Exception as exc:  # the run's outcome is what matters; note the rest
                log.warning("%s: closing failed: %s", name, describe_exception(exc))
        if did_nothing:
            print(f"{name}: {outcome}", file=sys.stderr)
            return status
        state_path = getattr(collector, "state_file_path", None)
        saved = bool(getattr(collector, "state_saved", False)) or (
            _file_identity(state_path) != state_before
        )
        print(f"{name}: {_summary(collector, outcome, saved)}", file=sys.stderr)
        return status
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def collector_main(cls: type) -> Callable[[Sequence[str] | None], int]:
    """Make a `main()` for a console script that runs one collector.

    ```python
    from stateful_collectors.cli import collector_main


    class DemoCollector:  # stands in for a real BaseCollector subclass
        pass


    main = collector_main(DemoCollector)
    print(main.__name__, main.__doc__)
    #> main Run DemoCollector once. Usage: [--config FILE] [--verbose]
    ```

    In `pyproject.toml`: `[project.scripts] collector-demo = "my_package.demo:main"`, or
    point at the class's `cli_main` (see `stateful-collectors scripts`) and write no code.
    """

    def main(argv: Sequence[str] | None = None) -> int:
        parser = _Parser(description=f"Run {cls.__qualname__} once.")
        _add_run_options(parser)
        args = parser.parse_args(argv)
        return int(run_collector(cls, config_file=args.config, verbose=args.verbose))

    main.__doc__ = f"Run {cls.__qualname__} once. Usage: [--config FILE] [--verbose]"
    return main


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file to read (default: $STATEFUL_COLLECTORS_CONFIG, or *.conf in "
        "/etc/stateful-collectors/ and ~/.config/stateful-collectors/)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")


# ---------------------------------------------------------------- console scripts


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()


def script_entries(module_name: str) -> list[tuple[str, str]]:
    """`(command, entry point)` for every collector class defined in a module.

    The command is `collector-` and the collector's config section with `_`
    turned into `-` (the class name when it has no `config_spec`); the entry
    point is the class's `cli_main`. Classes without a `raw_type` (abstract
    bases) are left out.
    """
    from stateful_collectors.base import AbstractBaseCollector

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
        and getattr(obj, "raw_type", "") is not None
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


# ---------------------------------------------------------------- state


def _state_collector(target: str, config_file: str | None) -> Any:
    cls = load_collector_class(target)
    collector = cls(config_file=config_file)
    if not hasattr(collector, "state_file_path"):
        collector.close()
        raise UsageError(f"{target} keeps no state (it does not use StatefulCollectorMixin)")
    return collector


def _backup(path: Path) -> Path | None:
    """Keep the current state file under a new name next to it (a hard link, or a copy)."""
    if not path.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    try:
        os.link(path, backup)
    except OSError:  # a file system without hard links
        import shutil  # only `state reset` needs it (with bz2 and lzma: ~2 ms a run)

        shutil.copy2(path, backup)
    _fsync_directory(path.parent)
    return backup


def _state_command(args: argparse.Namespace) -> ExitStatus:
    collector = _state_collector(args.target, args.config)
    path: Path = collector.state_file_path
    if args.action == "path":
        collector.close()
        print(path)
        return ExitStatus.SUCCESS
    try:
        collector.acquire_state_lock()
        if args.action == "show":
            return _show(collector, path)
        if args.action == "reset":
            return _reset(path, args)
        return _set(collector, path, args.value)
    finally:
        collector.close()


def _show(collector: Any, path: Path) -> ExitStatus:
    from stateful_collectors.state_view import format_state

    if path.exists():
        state = collector.load_state()
    else:
        print(f"# no state file yet at {path}; the first run starts from:", file=sys.stderr)
        state = collector.make_default_state()
    print(format_state(state))
    return ExitStatus.SUCCESS


def _reset(path: Path, args: argparse.Namespace) -> ExitStatus:
    if not path.exists():
        print(f"no state file at {path}; nothing to reset")
        return ExitStatus.SUCCESS
    if not args.yes and not _confirm(
        f"Reset the state of {args.target}? The next run starts from the default "
        "state and fetches everything again. [y/N] "
    ):
        print("not reset; the state file is unchanged", file=sys.stderr)
        return ExitStatus.FAILURE
    backup = _backup(path)
    os.unlink(path)
    _fsync_directory(path.parent)
    print(f"state reset; the old state is kept in {backup} (to undo: cp -p {backup} {path})")
    return ExitStatus.SUCCESS


def _set(collector: Any, path: Path, value: str) -> ExitStatus:
    from stateful_collectors.state_view import parse_state

    text = sys.stdin.read() if value == "-" else value
    where = "stdin" if value == "-" else "VALUE"
    try:
        state = parse_state(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not a state: {exc}; nothing was changed") from None
    backup = _backup(path)
    try:
        collector.save_state(state)
    except TypeError as exc:  # e.g. a set for a collector whose state_codec is 'json'
        if backup is not None:
            os.unlink(backup)
        raise UsageError(f"{where} cannot be saved: {exc}; nothing was changed") from None
    kept = f"; the old state is kept in {backup} (to undo: cp -p {backup} {path})" if backup else ""
    print(f"state saved to {path}{kept}")
    return ExitStatus.SUCCESS


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        print(file=sys.stderr)
        return False


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- main


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Run stateful collectors and look after their state.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a collector once (what cron calls)")
    run.add_argument("target", metavar="MODULE:CLASS")
    _add_run_options(run)

    state = commands.add_parser("state", help="show, reset or set a collector's state")
    actions = state.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("path", "print where the state file is (does not wait for the lock)"),
        ("show", "print the state as JSON ($-tagged objects for sets, tuples, datetimes...)"),
        ("reset", "delete the state, keeping a backup; the next run starts from the default"),
        ("set", "replace the state with VALUE (JSON as 'state show' prints it; - for stdin)"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("target", metavar="MODULE:CLASS")
        if action == "set":
            sub.add_argument("value", metavar="VALUE")
        if action == "reset":
            sub.add_argument("-y", "--yes", action="store_true", help="reset without asking")
        sub.add_argument("--config", metavar="FILE", help="config file to read")
        sub.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")

    scripts = commands.add_parser(
        "scripts", help="print [project.scripts] lines, one command per collector of a module"
    )
    scripts.add_argument("module", metavar="MODULE", help="dotted module name")

    feed = commands.add_parser("demo-feed", help="serve the demo feed the guide collects from")
    feed.add_argument("--host", default="127.0.0.1")
    feed.add_argument("--port", type=int, default=8808)
    feed.add_argument("--history", type=int, default=20, help="items already in the feed")
    feed.add_argument(
        "--interval", type=float, default=10.0, help="seconds between new items (0: none)"
    )
    feed.add_argument("--start", help="time of the first item (ISO 8601; default: now - history)")
    return parser


def _dispatch(args: argparse.Namespace) -> ExitStatus | int:
    if args.command == "run":
        cls = load_collector_class(args.target)
        return run_collector(cls, config_file=args.config, verbose=args.verbose)
    if args.command == "state":
        _configure_logging(args.verbose)
        return _state_command(args)
    if args.command == "scripts":
        entries = script_entries(args.module)
        print("[project.scripts]")
        for command, entry_point in entries:
            print(f'{command} = "{entry_point}"')
        return ExitStatus.SUCCESS
    if args.command == "demo-feed":
        return _demo_feed(args)
    raise AssertionError(args.command)


def _demo_feed(args: argparse.Namespace) -> int:
    from stateful_collectors.demo_feed import parse_time, serve_forever

    try:
        start = parse_time(args.start) if args.start else None
    except ValueError:
        raise UsageError(
            f"--start {args.start!r} is not an ISO 8601 time; write e.g. 2026-11-27T20:00:00Z"
        ) from None
    if args.history < 0 or args.interval < 0:
        raise UsageError("--history and --interval cannot be negative")
    try:
        return serve_forever(args.host, args.port, args.history, args.interval, start)
    except OSError as exc:
        raise CollectorError(
            f"cannot serve on {args.host}:{args.port} ({exc.strerror or exc}); pick another --port"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """The `stateful-collectors` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    prefix = f"{PROG} {args.command}"
    try:
        return int(_dispatch(args))
    except CollectorError as exc:
        if verbose and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        print(f"{prefix}: {exc}", file=sys.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return int(ExitStatus.INTERRUPTED)
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        hint = "" if verbose else " (--verbose shows the traceback)"
        print(f"{prefix}: failed: {describe_exception(exc)}{hint}", file=sys.stderr)
        return int(ExitStatus.FAILURE)


if __name__ == "__main__":
    sys.exit(main())
