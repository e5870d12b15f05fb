"""The `stateful-collectors` command, and `collector_main` for per-collector commands.

```text
stateful-collectors run MODULE:CLASS [--config FILE] [--verbose]
stateful-collectors state path|show|reset|set MODULE:CLASS [--config FILE] [--yes] [VALUE]
stateful-collectors demo-feed [--port 8808] [--history 20] [--interval 10]
```

`MODULE` is a dotted module name importable from the current directory
(`examples.my_collector`) or a path to a Python file (`examples/my_collector.py`).

Each run ends with one summary line on stderr and an exit status from
`stateful_collectors.errors.ExitStatus`: 0 success, 1 failure, 2 usage error,
3 config error, 4 state file error, 5 already running, 130 interrupted. User
mistakes get one line and no traceback; `--verbose` adds debug logs and the
traceback of unexpected errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import logging
import os
import pprint
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from stateful_collectors.errors import CollectorError, ExitStatus

__all__ = ["collector_main", "load_collector_class", "main", "run_collector"]

log = logging.getLogger("stateful_collectors")


class UsageError(CollectorError):
    """The command line names something that does not exist."""

    exit_status = ExitStatus.USAGE_ERROR


# ---------------------------------------------------------------- loading a collector


def load_collector_class(target: str) -> type:
    """Import `MODULE:CLASS` (dotted module or path to a .py file) and return the class."""
    from stateful_collectors.base import AbstractBaseCollector

    module_part, sep, class_part = target.rpartition(":")
    if not sep or not module_part or not class_part:
        raise UsageError(
            f"{target!r} is not MODULE:CLASS; write e.g. examples.my_collector:MyStatefullCollector"
        )
    if module_part.endswith(".py") or os.sep in module_part:
        path = Path(module_part)
        if not path.is_file():
            raise UsageError(f"{path}: no such Python file")
        module_name = path.stem
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name and module_part.startswith(exc.name):
                raise UsageError(
                    f"no module named {exc.name!r} (from {target!r}); run from the directory "
                    "that contains it, or give the path to the .py file"
                ) from None
            raise
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


def _summary(collector: Any, outcome: str) -> str:
    published = getattr(collector, "published_count", 0)
    sink = getattr(collector, "sink_description", None) or "no sink"
    parts = [f"{outcome}: published {published} message(s) to {sink}"]
    state_path = getattr(collector, "state_file_path", None)
    if state_path is not None:
        if getattr(collector, "state_saved", False):
            parts.append(f"state saved to {state_path}")
        else:
            parts.append("state not saved (the next run starts from the previous state)")
    return "; ".join(parts)


def run_collector(
    cls: type, *, config_file: str | None = None, verbose: bool = False
) -> ExitStatus:
    """Run one collector as the command line does; return the exit status.

    Prints one summary line on stderr. Never raises for user mistakes.
    """
    _configure_logging(verbose)
    name = cls.__qualname__
    try:
        collector = cls(config_file=config_file)
    except CollectorError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.exit_status
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        collector.run_collection()
    except KeyboardInterrupt:
        collector.stop()
        print(f"{name}: {_summary(collector, 'interrupted')}", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except CollectorError as exc:
        if exc.exit_status == ExitStatus.ALREADY_RUNNING:
            print(f"{name}: {exc}", file=sys.stderr)
        else:
            print(f"{name}: {_summary(collector, f'failed: {exc}')}", file=sys.stderr)
        return exc.exit_status
    except Exception as exc:
        if verbose:
            log.exception("%s failed", name)
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        print(f"{name}: {_summary(collector, f'failed: {reason}')}", file=sys.stderr)
        return ExitStatus.FAILURE
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        collector.close()
    print(f"{name}: {_summary(collector, 'ok')}", file=sys.stderr)
    return ExitStatus.SUCCESS


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

    In `pyproject.toml`: `[project.scripts] collector-demo = "my_package.demo:main"`.
    """

    def main(argv: Sequence[str] | None = None) -> int:
        parser = argparse.ArgumentParser(description=f"Run {cls.__qualname__} once.")
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


# ---------------------------------------------------------------- state


def _state_collector(target: str, config_file: str | None) -> Any:
    cls = load_collector_class(target)
    collector = cls(config_file=config_file)
    if not hasattr(collector, "state_file_path"):
        raise UsageError(f"{target} keeps no state (it does not use StatefulCollectorMixin)")
    return collector


def _format_state(state: Any) -> str:
    try:
        return json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return pprint.pformat(state, width=100, sort_dicts=True)


def _backup(path: Path) -> Path | None:
    if not path.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    os.link(path, backup)
    return backup


def _state_command(args: argparse.Namespace) -> int:
    collector = _state_collector(args.target, args.config)
    path: Path = collector.state_file_path
    if args.action == "path":
        print(path)
        return ExitStatus.SUCCESS
    try:
        collector.acquire_state_lock()
        if args.action == "show":
            exists = path.exists()
            state = collector.load_state()
            if not exists:
                print(f"# no state file yet at {path}; a first run starts from:")
            print(_format_state(state))
        elif args.action == "reset":
            if not path.exists():
                print(f"no state file at {path}; nothing to reset")
                return ExitStatus.SUCCESS
            if not args.yes and not _confirm(
                f"Reset the state of {args.target}? The next run starts from the default "
                "state and fetches everything again. [y/N] "
            ):
                print("not reset")
                return ExitStatus.FAILURE
            backup = _backup(path)
            os.unlink(path)
            _fsync_directory(path.parent)
            print(f"state reset; the old state is kept in {backup}")
        elif args.action == "set":
            text = sys.stdin.read() if args.value == "-" else args.value
            if text is None:
                raise UsageError("state set needs a JSON VALUE (or - to read it from stdin)")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(f"VALUE is not valid JSON ({exc.msg} at {exc.pos})") from None
            backup = _backup(path)
            collector.save_state(value)
            kept = f"; the old state is kept in {backup}" if backup else ""
            print(f"state saved to {path}{kept}")
    finally:
        collector.close()
    return ExitStatus.SUCCESS


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- main


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stateful-collectors",
        description="Run stateful collectors and look after their state.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a collector once (what cron calls)")
    run.add_argument("target", metavar="MODULE:CLASS")
    _add_run_options(run)

    state = commands.add_parser("state", help="show, reset or set a collector's state")
    state.add_argument("action", choices=["path", "show", "reset", "set"])
    state.add_argument("target", metavar="MODULE:CLASS")
    state.add_argument("value", nargs="?", metavar="VALUE", help="JSON for 'set' (- for stdin)")
    state.add_argument("--config", metavar="FILE", help="config file to read")
    state.add_argument("-y", "--yes", action="store_true", help="reset without asking")

    feed = commands.add_parser("demo-feed", help="serve the demo feed the guide collects from")
    feed.add_argument("--host", default="127.0.0.1")
    feed.add_argument("--port", type=int, default=8808)
    feed.add_argument("--history", type=int, default=20, help="items already in the feed")
    feed.add_argument(
        "--interval", type=float, default=10.0, help="seconds between new items (0: none)"
    )
    feed.add_argument("--start", help="time of the first item (ISO 8601; default: now - history)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `stateful-collectors` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "run":
            cls = load_collector_class(args.target)
            return int(run_collector(cls, config_file=args.config, verbose=args.verbose))
        if args.command == "state":
            _configure_logging(False)
            return int(_state_command(args))
        if args.command == "demo-feed":
            from stateful_collectors.demo_feed import serve_forever

            start = dt.datetime.fromisoformat(args.start) if args.start else None
            return serve_forever(args.host, args.port, args.history, args.interval, start)
    except CollectorError as exc:
        print(f"stateful-collectors: {exc}", file=sys.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
