"""One run of a collector as a process: what `stateful-collectors run` and console scripts do.

`run_collector(cls)` reads the config, builds the collector, runs it once
(`run_collection()`) within the run's deadline, closes it and prints exactly
one summary line on stderr: the outcome, how many messages were published and
where, and whether the state was saved. It returns the exit status
(`stateful_collectors.errors.ExitStatus`) and never raises for user mistakes.
`collector_main(cls)` wraps it as the `main()` of a console script.

Signals and the deadline (see `stateful_collectors.runtime.interrupts`): SIGINT,
SIGTERM and SIGHUP end the run with status 130, its deadline with 124; the
state is not saved (a save already under way completes, and the line says
so). A signal that comes once the outcome is decided (while the collector
closes, after its save) changes nothing, and the line says it came. The
deadline is `--deadline SECONDS`, else `[run] deadline` in the config, else
one hour.

The line goes through `stateful_collectors.runtime.output` (masked, on one
line, bounded); a standard error that cannot take it loses the line, not the
status.

The runner relies only on what `RunnableCollector` declares
(`run_collection`, `close`, `published_count`, `sink_description`,
`state_location`, `state_saved`, `nothing_to_publish`), which
`AbstractBaseCollector` provides; it imports no collector class.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from stateful_collectors.config import MAX_SECONDS, ConfigSource, ConfigSpec, parse_seconds
from stateful_collectors.errors import (
    CollectorError,
    ExitStatus,
    Interrupted,
    StateSaveError,
    describe_exception,
)
from stateful_collectors.runtime import interrupts, output

__all__ = [
    "DEFAULT_DEADLINE",
    "MAX_DEADLINE",
    "collector_main",
    "run_collector",
]

log = logging.getLogger("stateful_collectors")

DEFAULT_DEADLINE = 3600.0
"""A run's deadline, in seconds, unless `[run] deadline` or `--deadline` sets another."""
MAX_DEADLINE = MAX_SECONDS
"""The longest deadline accepted: a week (a collector run is short by nature)."""


_RUN_SPEC = ConfigSpec.parse(
    f"[run]\ndeadline = {DEFAULT_DEADLINE:g} :: seconds\n", owner="the [run] section"
)

SECTIONS = tuple(_RUN_SPEC.sections)
"""The config sections the runner reads: `[run]` (`deadline`)."""


class RunnableCollector(Protocol):
    """What the runner needs of a collector; `AbstractBaseCollector` has all of it."""

    published_count: int
    sink_description: str | None
    state_saved: bool
    nothing_to_publish: bool

    def __init__(self, *, config_source: ConfigSource, **init_kwargs: Any) -> None: ...

    @classmethod
    def init_kwargs_from_command_line(cls, arguments: Sequence[str]) -> dict[str, Any]: ...

    @property
    def state_location(self) -> str | None: ...

    def run_collection(self) -> None: ...

    def close(self) -> None: ...


def _summary(collector: RunnableCollector, outcome: str, separator: str, save_failed: bool) -> str:
    published = collector.published_count
    sink = collector.sink_description
    if outcome == "ok" and collector.nothing_to_publish:
        text = "ok: nothing new to publish"
        if collector.state_location is not None and not collector.state_saved:
            return f"{text}; state unchanged in {collector.state_location}"
        return text
    if outcome == "ok":
        text = f"ok: published {published} message(s)" + (f" to {sink}" if sink else "")
    else:  # "interrupted", "deadline passed (N s)" or "failed: <reason>" (may name the sink)
        where = f" to {sink}" if sink and sink not in outcome else ""
        done = (
            f"{published} message(s) published{where} before it stopped"
            if published
            else "nothing published"
        )
        text = f"{outcome}{separator}{done}"
    state_location = collector.state_location
    if state_location is not None:
        if collector.state_saved:
            text += f"; state saved to {state_location}"
        elif save_failed and published:
            text += f"; state not saved; the next run publishes these {published} message(s) again"
        else:
            text += "; state not saved (the next run starts from the previous state)"
    return text


def run_collector(
    cls: type[RunnableCollector],
    *,
    config_file: str | None = None,
    verbose: bool = False,
    deadline: float | None = None,
    arguments: Sequence[str] = (),
) -> ExitStatus:
    """Run one collector as the command line does; return the exit status.

    `arguments` are the collector's own, from the command line after the
    options (see `AbstractBaseCollector.init_kwargs_from_command_line`).

    Prints exactly one summary line on stderr: the outcome, how many messages
    were published and where, and whether the state was saved. Never raises for
    user mistakes. SIGINT, SIGTERM and SIGHUP give `ExitStatus.INTERRUPTED`,
    the deadline (`deadline` seconds, else `[run] deadline`, else
    `DEFAULT_DEADLINE`) gives `ExitStatus.TIMED_OUT`; in both cases the state
    is not advanced unless it was being saved (the line says which).
    """
    output.configure_logging(verbose)
    own_handlers = not interrupts.installed()
    if own_handlers:
        interrupts.install()  # a no-op outside the main thread
    try:
        return _run(cls, config_file, verbose, deadline, arguments)
    finally:
        if own_handlers:
            interrupts.restore()
        else:
            interrupts.cancel_deadline()


def _run(
    cls: type[RunnableCollector],
    config_file: str | None,
    verbose: bool,
    deadline: float | None,
    arguments: Sequence[str],
) -> ExitStatus:
    name = cls.__qualname__
    collector: RunnableCollector | None = None
    did_nothing = False  # nothing was attempted: the line is the error alone
    separator = "; "
    save_failed = False
    try:
        init_kwargs = cls.init_kwargs_from_command_line(arguments)
        source = ConfigSource.load(config_file=config_file)
        if deadline is None:
            deadline = source.section(_RUN_SPEC, "run")["deadline"]
        assert deadline is not None
        interrupts.start_deadline(deadline)
        collector = cls(config_source=source, **init_kwargs)
        collector.run_collection()
        interrupts.hold()
        status, outcome = ExitStatus.SUCCESS, "ok"
    except BaseException as exc:
        interrupts.hold()  # from here on a signal changes nothing: the outcome is decided
        if isinstance(exc, CollectorError):
            status, outcome = exc.exit_status, f"failed: {exc}"
            save_failed = isinstance(exc, StateSaveError)
            if status == ExitStatus.INTERRUPTED:  # the collector's stop() was called
                outcome, separator = "interrupted", ": "
            if collector is None or exc.exit_status == ExitStatus.ALREADY_RUNNING:
                did_nothing, outcome = True, str(exc)
        elif isinstance(exc, KeyboardInterrupt):
            status, outcome, separator = ExitStatus.INTERRUPTED, "interrupted", ": "
        elif isinstance(exc, Exception):
            if verbose:
                log.exception("%s failed", name)
            hint = "" if verbose else " (--verbose shows the traceback)"
            status, outcome = ExitStatus.FAILURE, f"failed: {describe_exception(exc)}{hint}"
            did_nothing = collector is None
        else:  # SystemExit from the collector's code, GeneratorExit...
            status = ExitStatus.FAILURE
            outcome = f"failed: the collector raised {describe_exception(exc)}"
    interruption: Interrupted | None = interrupts.received()
    if interruption is not None:  # even one that the collector's code caught and ignored
        status = interruption.exit_status
        outcome, separator = ("interrupted", ": ")
        if interruption.exit_status == ExitStatus.TIMED_OUT:
            outcome, separator = str(interruption), "; "
        did_nothing = collector is None
    if collector is not None:
        try:
            collector.close()
        except Exception as exc:  # the run's outcome is what matters; note the rest
            log.warning("%s: closing failed: %s", name, describe_exception(exc))
    if did_nothing or collector is None:
        output.say(f"{name}: {outcome}")  # lost if stderr cannot take it: the status stays
        return status
    text = _summary(collector, outcome, separator, save_failed)
    late = interrupts.late()
    if late is not None:  # while it closed: the outcome was decided, the signal changed nothing
        after = "the save" if collector.state_saved else "the run had ended"
        text += f"; {late} came after {after} and changed nothing"
    output.say(f"{name}: {text}")
    return status


def _deadline_argument(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of one run: `--config FILE`, `--deadline SECONDS`, `--verbose`."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file to read (default: $STATEFUL_COLLECTORS_CONFIG, or *.conf in "
        "/etc/stateful-collectors/ and ~/.config/stateful-collectors/)",
    )
    parser.add_argument(
        "--deadline",
        metavar="SECONDS",
        type=_deadline_argument,
        help=f"stop the run after this long (default: [run] deadline, or {DEFAULT_DEADLINE:g})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized to the terminal without importing `shutil`.

    argparse builds a formatter for every parser (not only for `--help`) and
    imports `shutil` (with `bz2` and `lzma`) to read the terminal's width: a
    cost every cron-started run would pay for nothing.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """The terminal's width as `shutil.get_terminal_size()` finds it (`$COLUMNS` first).

    `$COLUMNS` counts only as a whole number greater than 0, as for `shutil`.
    """
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and 0 < int(columns) <= 10_000:
        return int(columns)
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns if stdout else 0) or 80
    except (ValueError, OSError):
        return 80


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line (and exit status 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._lost_help: str | None = None

    def error(self, message: str) -> NoReturn:
        output.say(f"{self.prog}: {message} (see {self.prog} --help)")
        self.exit(ExitStatus.USAGE_ERROR)

    def _print_message(self, message: str, file: Any = None) -> None:
        if message and (file is None or file is sys.stdout):  # --help: what was asked for
            if not output.show_data(message):
                self._lost_help = output.failed_stream("stdout")
        else:
            super()._print_message(message, file)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        lost = self._lost_help
        if status == 0 and lost is not None:  # --help on a closed or full stdout
            output.say(f"{self.prog}: {lost}, so the help was not shown")
            status = ExitStatus.OUTPUT_ERROR
        super().exit(status, message)


def collector_main(cls: type[RunnableCollector]) -> Callable[[Sequence[str] | None], int]:
    """Make a `main()` for a console script that runs one collector.

    ```python
    from stateful_collectors import BaseCollector
    from stateful_collectors.runtime.runner import collector_main


    class DemoCollector(BaseCollector):
        raw_type = "stream"


    main = collector_main(DemoCollector)
    print(main.__name__)
    #> main
    print(main.__doc__)
    #> Run DemoCollector once. Usage: [--config FILE] [--deadline SECONDS] [--verbose]
    ```

    In `pyproject.toml`: `[project.scripts] collector-demo = "my_package.demo:main"`, or
    point at the class's `cli_main` (see `stateful-collectors scripts`) and write no code.
    """

    def main(argv: Sequence[str] | None = None) -> int:
        interrupts.install()  # as `stateful-collectors run` does: signals handled from here on
        try:
            parser = OneLineErrorParser(description=f"Run {cls.__qualname__} once.")
            add_run_options(parser)
            args, arguments = parser.parse_known_args(argv)
            return int(
                run_collector(
                    cls,
                    config_file=args.config,
                    verbose=args.verbose,
                    deadline=args.deadline,
                    arguments=arguments,
                )
            )
        except KeyboardInterrupt as exc:  # while the command line was read
            interrupts.hold()
            output.say(f"{cls.__qualname__}: interrupted")
            status = exc.exit_status if isinstance(exc, Interrupted) else ExitStatus.INTERRUPTED
            return int(status)
        finally:
            interrupts.finish()  # the process ends with the status decided: signals change nothing
            if argv is None:
                output.finish()  # a line lost on a closed stderr changes no status
            else:  # called from Python: leave the process as it was
                interrupts.restore()

    main.__doc__ = (
        f"Run {cls.__qualname__} once. Usage: [--config FILE] [--deadline SECONDS] [--verbose]"
    )
    return main
