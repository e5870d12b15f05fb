"""The `stateful-collectors` command: argument parsing and dispatch.

```text
stateful-collectors run MODULE:CLASS [--config FILE] [--deadline SECONDS] [--verbose]
                        [ARGUMENTS...]
stateful-collectors state path|show|reset|set|backups|restore MODULE:CLASS
                          [--config FILE] [--yes] [VALUE|BACKUP] [ARGUMENTS...]
stateful-collectors state copy MODULE:CLASS --from-config FILE --to-config FILE
                          [ARGUMENTS...]
stateful-collectors scripts MODULE
stateful-collectors demo-feed [--port 8808] [--history 20] [--interval 10] [--token T]
                              [--page-size 10] [--rate-limit 60]
```

`MODULE` is a dotted module name importable from the current directory
(`examples.my_collector`) or a path to a Python file (`examples/my_collector.py`).
The state file's name comes from the module name, so give `run` and `state`
the same form. `ARGUMENTS` are the collector's own (an n6 collector's
`get_arg_parser()`); a collector that takes none refuses any.

`python -m stateful_collectors` is the same command.

Each run ends with one summary line on stderr and an exit status from
`stateful_collectors.errors.ExitStatus`: 0 success, 1 failure, 2 usage error,
3 config error, 4 state error, 5 already running, 6 lock lost, 124 deadline
passed, 130 interrupted (Ctrl+C, SIGTERM or SIGHUP). User mistakes get one
line and no traceback; `--verbose` adds debug logs and the traceback of
unexpected errors.

`main()` handles SIGINT, SIGTERM and SIGHUP before it imports anything else
(the collector's module included): a signal at any moment gives one line and
status 130 (see `stateful_collectors.runtime.interrupts`).

`state show`, `reset`, `set`, `backups`, `restore` and `copy` take the
collector's single-instance lock when a state exists, so they never race a
running collector (exit status 5 while one runs); `state path`, and `state
show` before any state was saved, create nothing on disk. Input they cannot
take gives status 2 or 4 and "nothing was changed". They work on either
store, the state file or a PostgreSQL row (whichever the config selects);
`state copy` moves a state from the store one config file selects to the
store another selects.

One run as a process is `stateful_collectors.runtime.runner`; finding the class is
`stateful_collectors.command.loading`; what the `state` commands do is
`stateful_collectors.command.state_commands`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

# First, and alone: a signal during the imports below must already give one line and 130.
from stateful_collectors.runtime import interrupts

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from stateful_collectors.errors import ExitStatus

__all__ = ["main"]

PROG = "stateful-collectors"

MAX_STATE_INPUT_BYTES = 64 << 20
"""The most `state set -` reads from stdin (64 MiB)."""


def _port(text: str) -> int:
    return _whole_number(0, 65535, "a port number", " (0: any free port)")(text)


def _count(text: str) -> int:
    from stateful_collectors.demo.feed import MAX_ITEMS  # only when --history is given

    return _whole_number(0, MAX_ITEMS, "a number of items")(text)


def _interval(text: str) -> float:
    import argparse
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= 86400):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds; give one from 0 (no new items) to 86400"
        )
    return seconds


def _whole_number(low: int, high: int, what: str, note: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (`note` ends its error)."""

    def convert(text: str) -> int:
        import argparse

        number = int(text) if text.strip().isdigit() and len(text.strip()) <= 9 else -1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {what}; give a whole number from {low} to {high}{note}"
            )
        return number

    return convert


def _token(text: str) -> str:
    import argparse

    if not text or len(text) > 200 or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(
            "the token must be 1 to 200 printable characters without blanks"
        )
    return text


def _build_parser() -> argparse.ArgumentParser:
    from stateful_collectors.runtime.runner import OneLineErrorParser, add_run_options

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
    feed.add_argument("--port", type=_port, default=8808)
    feed.add_argument("--history", type=_count, default=20, help="items already in the feed")
    feed.add_argument(
        "--interval", type=_interval, default=10.0, help="seconds between new items (0: none)"
    )
    feed.add_argument("--start", help="time of the first item (ISO 8601; default: now - history)")
    feed.add_argument(
        "--token",
        type=_token,
        default="demo-token",
        help="the token /cookbook/api/items accepts (default: demo-token)",
    )
    feed.add_argument(
        "--page-size",
        type=_whole_number(1, 1000, "a page size"),
        default=10,
        help="items per page of /cookbook/pages (default: 10)",
    )
    feed.add_argument(
        "--rate-limit",
        type=_whole_number(0, 100000, "a number of requests"),
        default=60,
        help="requests a minute /cookbook/limited.json answers (default: 60; 0: no limit)",
    )
    return parser


# ---------------------------------------------------------------- state


def _shown(*lines: str, data: bool = False) -> None:
    """Write what a command was asked to show on stdout; `OutputError` if it could not be.

    `data` is written as it is (`state show`'s JSON); other lines go through
    `output.show()`, masked and one line each.
    """
    from stateful_collectors.errors import OutputError
    from stateful_collectors.runtime import output

    for text in lines:
        if not (output.show_data(text) if data else output.show(text)):
            raise OutputError(f"{output.failed_stream('stdout')}, so nothing was shown")


def _said(text: str) -> None:
    """A command's message about what it did, on stdout: lost, not a failure, if it cannot be."""
    from stateful_collectors.runtime import output

    output.show(text)


def _state_command(args: argparse.Namespace) -> ExitStatus:
    from stateful_collectors.command import state_commands as commands
    from stateful_collectors.command.loading import load_collector_class
    from stateful_collectors.errors import ExitStatus, UsageError
    from stateful_collectors.runtime import output
    from stateful_collectors.state.mixin import StatefulCollectorMixin

    output.configure_logging(args.verbose)
    if args.action == "copy":
        return _copy(args)
    cls = load_collector_class(args.target, to_run=False)
    collector = cls(config_file=args.config, **cls.init_kwargs_from_command_line(args.arguments))
    try:
        if not isinstance(collector, StatefulCollectorMixin):
            raise UsageError(
                f"{args.target} keeps no state (it does not use StatefulCollectorMixin)"
            )
        if args.action == "path":
            _shown(collector.state_store.location)
            return ExitStatus.SUCCESS
        if args.action == "show":
            text, note = commands.show_state(collector)
            if note:
                output.say(note)
            _shown(text, data=True)
            return ExitStatus.SUCCESS
        if args.action == "set":  # the input is read first: the lock is taken for a state
            where = "stdin" if args.value == "-" else "VALUE"
            text = _read_stdin() if args.value == "-" else args.value
            _said(commands.set_state(collector, text, where))
            return ExitStatus.SUCCESS
        collector.acquire_state_lock()
        if args.action == "backups":
            lines, note = commands.list_backups(collector)
            if note:
                output.say(note)
            _shown(*lines)
            return ExitStatus.SUCCESS
        if args.action == "restore":
            _said(commands.restore_backup(collector, args.backup))
            return ExitStatus.SUCCESS
        question = (
            f"Reset the state of {args.target}? The next run starts from the default "
            "state and fetches everything again. [y/N] "
        )
        done = commands.reset_state(collector, lambda: args.yes or _confirm(question))
        if done is None:
            output.say("not reset; the state file is unchanged")
            return ExitStatus.FAILURE
        _said(done)
        return ExitStatus.SUCCESS
    finally:
        collector.close()


def _copy(args: argparse.Namespace) -> ExitStatus:
    """`state copy`: both collectors' locks, source first, then the bytes across."""
    import os

    from stateful_collectors.command import state_commands as commands
    from stateful_collectors.command.loading import load_collector_class
    from stateful_collectors.errors import ExitStatus, UsageError
    from stateful_collectors.state.mixin import StatefulCollectorMixin
    from stateful_collectors.state.stores import overriding_variable

    cls = load_collector_class(args.target, to_run=False)
    if not issubclass(cls, StatefulCollectorMixin):
        raise UsageError(f"{args.target} keeps no state (it does not use StatefulCollectorMixin)")
    init_kwargs = cls.init_kwargs_from_command_line(args.arguments)
    source = cls(config_file=args.from_config, **init_kwargs)
    try:
        target = cls(config_file=args.to_config, **init_kwargs)
        try:
            if source.state_store.location == target.state_store.location:
                variable = overriding_variable(os.environ)
                why = f" (${variable} overrides both)" if variable else ""
                raise UsageError(
                    f"--from-config and --to-config both select {source.state_store.location}"
                    f"{why}; nothing was copied"
                )
            source.acquire_state_lock()
            target.acquire_state_lock()
            _said(commands.copy_state(source, target))
        finally:
            target.close()
    finally:
        source.close()
    return ExitStatus.SUCCESS


def _read_stdin() -> str:
    """`state set -`: the text on stdin, at most `MAX_STATE_INPUT_BYTES`, as UTF-8."""
    from stateful_collectors.errors import UsageError

    stream = sys.stdin.buffer if sys.stdin is not None else None
    if stream is None:
        raise UsageError("stdin is closed, so there is no state to read; nothing was changed")
    try:
        data = stream.read(MAX_STATE_INPUT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"stdin cannot be read ({exc.strerror}); nothing was changed") from None
    if len(data) > MAX_STATE_INPUT_BYTES:
        raise UsageError(
            f"stdin holds more than {MAX_STATE_INPUT_BYTES >> 20} MiB, more than a state "
            "may be; nothing was changed"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not UTF-8 text (byte {exc.start}); nothing was changed"
        ) from None


def _confirm(question: str) -> bool:
    from stateful_collectors.runtime import output

    if sys.stdin is None:  # closed: no one to answer
        return False
    output.ask(question)
    try:
        answer = sys.stdin.readline(256)
    except (OSError, ValueError):  # no answer: stdin cannot be read
        answer = ""
    if not answer.endswith("\n"):  # end of input: end the question's line
        output.say("")
    return answer.strip().lower() in ("y", "yes")


# ---------------------------------------------------------------- the other commands


def _scripts(args: argparse.Namespace) -> ExitStatus:
    from stateful_collectors.command.loading import script_entries
    from stateful_collectors.errors import ExitStatus

    entries = script_entries(args.module)
    lines = [f'{command} = "{entry_point}"' for command, entry_point in entries]
    _shown("[project.scripts]", *lines)
    return ExitStatus.SUCCESS


def _demo_feed(args: argparse.Namespace) -> int:
    import datetime as dt

    from stateful_collectors.demo.feed import format_time, parse_time, serve_forever
    from stateful_collectors.errors import CollectorError, UsageError

    try:
        start = parse_time(args.start) if args.start else None
    except (ValueError, OverflowError):
        raise UsageError(
            f"--start {args.start!r} is not an ISO 8601 time; write e.g. 2026-11-27T20:00:00Z"
        ) from None
    if start is not None:
        try:
            format_time(start + dt.timedelta(minutes=args.history + 1))
        except OverflowError:
            raise UsageError(
                f"--start {args.start!r} leaves no room for {args.history} items before the end "
                "of year 9999; give an earlier time"
            ) from None
    try:
        return serve_forever(
            args.host,
            args.port,
            args.history,
            args.interval,
            start,
            token=args.token,
            page_size=args.page_size,
            rate_limit=args.rate_limit,
        )
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CollectorError(
            f"cannot serve on {args.host}:{args.port} ({reason}); pick another --port or --host"
        ) from None


def _dispatch(args: argparse.Namespace) -> ExitStatus | int:
    if args.command == "run":
        from stateful_collectors.command.loading import load_collector_class
        from stateful_collectors.runtime.runner import run_collector

        cls = load_collector_class(args.target)
        return run_collector(
            cls,
            config_file=args.config,
            verbose=args.verbose,
            deadline=args.deadline,
            arguments=args.arguments,
        )
    if args.command == "state":
        return _state_command(args)
    if args.command == "scripts":
        return _scripts(args)
    if args.command == "demo-feed":
        return _demo_feed(args)
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    """The `stateful-collectors` command; returns the exit status.

    Signals are handled from the first line on. Called with `argv` (from
    Python, as tests do), it puts the previous signal handlers back before it
    returns; as the command itself (`argv` is `None`), it leaves signals
    ignored, since the process is about to end with the status it decided.
    """
    interrupts.install()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # while starting up, before a command could say more
        interrupts.hold()
        from stateful_collectors.errors import ExitStatus, Interrupted
        from stateful_collectors.runtime import output

        output.say(f"{PROG}: interrupted")
        return int(exc.exit_status if isinstance(exc, Interrupted) else ExitStatus.INTERRUPTED)
    finally:
        interrupts.finish()
        if argv is None:  # the process ends: a line lost on a closed stream changes no status
            from stateful_collectors.runtime import output

            output.finish()
        else:
            interrupts.restore()


def _main(argv: Sequence[str] | None) -> int:
    from stateful_collectors.errors import (
        CollectorError,
        ExitStatus,
        Interrupted,
        describe_exception,
    )
    from stateful_collectors.runtime import output

    parser = _build_parser()
    args, arguments = parser.parse_known_args(argv)
    if arguments and args.command not in ("run", "state"):  # a collector's own arguments
        parser.error(f"unrecognized arguments: {' '.join(arguments)}")
    args.arguments = arguments
    verbose = args.verbose
    prefix = f"{PROG} {args.command}"
    try:
        return int(_dispatch(args))
    except KeyboardInterrupt as exc:
        interrupts.hold()
        output.say(f"{prefix}: interrupted")
        return int(exc.exit_status if isinstance(exc, Interrupted) else ExitStatus.INTERRUPTED)
    except Exception as exc:
        interrupts.hold()
        interruption = interrupts.received()
        if interruption is not None:
            # A signal arrived, and what it raised was replaced on its way out (CPython
            # turns one landing inside `from X import Y` into a TypeError, for instance):
            # the command was interrupted, whatever it raised instead.
            output.say(f"{prefix}: interrupted")
            return int(interruption.exit_status)
        if isinstance(exc, CollectorError):
            if verbose and exc.__cause__ is not None:
                output.say_traceback(exc.__cause__)
            output.say(f"{prefix}: {exc}")
            return int(exc.exit_status)
        if verbose:
            output.say_traceback(exc)
        hint = "" if verbose else " (--verbose shows the traceback)"
        output.say(f"{prefix}: failed: {describe_exception(exc)}{hint}")
        return int(ExitStatus.FAILURE)


if __name__ == "__main__":
    sys.exit(main())
