"""The `stateful-collectors` command: argument parsing and dispatch.

```text
stateful-collectors run MODULE:CLASS [--config FILE] [--verbose]
stateful-collectors state path|show|backups MODULE:CLASS [--config FILE]
stateful-collectors state reset MODULE:CLASS [--config FILE] [--yes]
stateful-collectors state set MODULE:CLASS VALUE [--config FILE]
stateful-collectors state restore MODULE:CLASS BACKUP [--config FILE]
stateful-collectors state copy MODULE:CLASS --from-config FILE --to-config FILE
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
3 config error, 4 state error, 5 already running, 6 lock lost, 124 deadline
passed, 130 interrupted (Ctrl+C, SIGTERM or SIGHUP). User mistakes get one
line and no traceback; `--verbose` adds debug logs and the traceback of
unexpected errors.

`state show`, `reset`, `set`, `backups`, `restore` and `copy` take the
collector's single-instance lock, so they never race a running collector
(exit status 5 while one runs); `state path` only prints where the state is.
They work on either store, the state file or a PostgreSQL row (whichever the
config selects); `state copy` moves a state from the store one config file
selects to the store another selects.

One run as a process is `stateful_collectors.runner`; finding the class is
`stateful_collectors.loading`; what the `state` commands do is
`stateful_collectors.state.commands`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from stateful_collectors.errors import CollectorError, ExitStatus, UsageError, describe_exception
from stateful_collectors.runner import (
    OneLineErrorParser,
    add_run_options,
    configure_logging,
    run_collector,
)

__all__ = ["main"]

PROG = "stateful-collectors"


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Run stateful collectors and look after their state.",
    )
    parser.set_defaults(verbose=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a collector once (what cron calls)")
    run.add_argument("target", metavar="MODULE:CLASS")
    add_run_options(run)

    state = commands.add_parser(
        "state", help="show, set, reset, restore or copy a collector's state"
    )
    actions = state.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("path", "print where the state file is (does not wait for the lock)"),
        ("show", "print the state as JSON ($-tagged objects for sets, tuples, datetimes...)"),
        ("reset", "delete the state, keeping a backup; the next run starts from the default"),
        ("set", "replace the state with VALUE (JSON as 'state show' prints it; - for stdin)"),
        ("backups", "list the backups kept of the state, oldest first"),
        ("restore", "put BACKUP (as 'state backups' names it) in place of the state"),
        ("copy", "copy the state from one config's store to another's (file, PostgreSQL)"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("target", metavar="MODULE:CLASS")
        if action == "set":
            sub.add_argument("value", metavar="VALUE")
        if action == "restore":
            sub.add_argument("backup", metavar="BACKUP")
        if action == "reset":
            sub.add_argument("-y", "--yes", action="store_true", help="reset without asking")
        if action == "copy":
            sub.add_argument(
                "--from-config", metavar="FILE", required=True, help="the config to copy from"
            )
            sub.add_argument(
                "--to-config", metavar="FILE", required=True, help="the config to copy to"
            )
        else:
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


# ---------------------------------------------------------------- state


def _state_command(args: argparse.Namespace) -> ExitStatus:
    from stateful_collectors.loading import load_collector_class
    from stateful_collectors.state import commands
    from stateful_collectors.state.mixin import StatefulCollectorMixin

    configure_logging(args.verbose)
    if args.action == "copy":
        return _copy(args)
    collector = load_collector_class(args.target)(config_file=args.config)
    try:
        if not isinstance(collector, StatefulCollectorMixin):
            raise UsageError(
                f"{args.target} keeps no state (it does not use StatefulCollectorMixin)"
            )
        if args.action == "path":
            print(collector.state_store.location)
            return ExitStatus.SUCCESS
        collector.acquire_state_lock()
        if args.action == "show":
            text, note = commands.show_state(collector)
            if note:
                print(note, file=sys.stderr)
            print(text)
        elif args.action == "reset":
            question = (
                f"Reset the state of {args.target}? The next run starts from the default "
                "state and fetches everything again. [y/N] "
            )
            done = commands.reset_state(collector, lambda: args.yes or _confirm(question))
            if done is None:
                print("not reset; the state file is unchanged", file=sys.stderr)
                return ExitStatus.FAILURE
            print(done)
        elif args.action == "set":
            where = "stdin" if args.value == "-" else "VALUE"
            text = sys.stdin.read() if args.value == "-" else args.value
            print(commands.set_state(collector, text, where))
        elif args.action == "backups":
            lines, note = commands.list_backups(collector)
            if note:
                print(note, file=sys.stderr)
            for line in lines:
                print(line)
        else:
            print(commands.restore_backup(collector, args.backup))
        return ExitStatus.SUCCESS
    finally:
        collector.close()


def _copy(args: argparse.Namespace) -> ExitStatus:
    """`state copy`: both collectors' locks, source first, then the bytes across."""
    from stateful_collectors.loading import load_collector_class
    from stateful_collectors.state import commands
    from stateful_collectors.state.mixin import StatefulCollectorMixin
    from stateful_collectors.state.store import POSTGRESQL_DSN_ENV_VAR

    cls = load_collector_class(args.target)
    if not issubclass(cls, StatefulCollectorMixin):
        raise UsageError(f"{args.target} keeps no state (it does not use StatefulCollectorMixin)")
    source = cls(config_file=args.from_config)
    try:
        target = cls(config_file=args.to_config)
        try:
            if source.state_store.location == target.state_store.location:
                variable = POSTGRESQL_DSN_ENV_VAR
                why = f" (${variable} overrides both)" if os.environ.get(variable) else ""
                raise UsageError(
                    f"--from-config and --to-config both select {source.state_store.location}"
                    f"{why}; nothing was copied"
                )
            source.acquire_state_lock()
            target.acquire_state_lock()
            print(commands.copy_state(source, target))
        finally:
            target.close()
    finally:
        source.close()
    return ExitStatus.SUCCESS


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        print(file=sys.stderr)
        return False


# ---------------------------------------------------------------- the other commands


def _scripts(args: argparse.Namespace) -> ExitStatus:
    from stateful_collectors.loading import script_entries

    entries = script_entries(args.module)
    print("[project.scripts]")
    for command, entry_point in entries:
        print(f'{command} = "{entry_point}"')
    return ExitStatus.SUCCESS


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


def _dispatch(args: argparse.Namespace) -> ExitStatus | int:
    if args.command == "run":
        from stateful_collectors.loading import load_collector_class

        cls = load_collector_class(args.target)
        return run_collector(cls, config_file=args.config, verbose=args.verbose)
    if args.command == "state":
        return _state_command(args)
    if args.command == "scripts":
        return _scripts(args)
    if args.command == "demo-feed":
        return _demo_feed(args)
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    """The `stateful-collectors` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    verbose = args.verbose
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
