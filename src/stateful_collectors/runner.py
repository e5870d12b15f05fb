"""One run of a collector as a process: what `stateful-collectors run` and console scripts do.

`run_collector(cls)` builds the collector from its config, runs it once
(`run_collection()`), closes it and prints exactly one summary line on stderr:
the outcome, how many messages were published and where, and whether the state
was saved. It returns the exit status (`stateful_collectors.errors.ExitStatus`)
and never raises for user mistakes. `collector_main(cls)` wraps it as the
`main()` of a console script.

The runner relies only on what `AbstractBaseCollector` declares
(`run_collection`, `close`, `published_count`, `sink_description`,
`state_location`, `state_saved`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from stateful_collectors.errors import CollectorError, ExitStatus, describe_exception

if TYPE_CHECKING:
    from stateful_collectors.collectors.base import AbstractBaseCollector

__all__ = ["add_run_options", "collector_main", "configure_logging", "run_collector"]

log = logging.getLogger("stateful_collectors")


def configure_logging(verbose: bool) -> None:
    """Log lines on stderr: warnings and errors, or everything with `verbose`."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not verbose:
        logging.getLogger("pika").setLevel(logging.CRITICAL)


def _raise_keyboard_interrupt(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def _summary(collector: AbstractBaseCollector, outcome: str) -> str:
    published = collector.published_count
    sink = collector.sink_description
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
    state_location = collector.state_location
    if state_location is not None:
        if collector.state_saved:
            text += f"; state saved to {state_location}"
        else:
            text += "; state not saved (the next run starts from the previous state)"
    return text


def run_collector(
    cls: type[AbstractBaseCollector], *, config_file: str | None = None, verbose: bool = False
) -> ExitStatus:
    """Run one collector as the command line does; return the exit status.

    Prints exactly one summary line on stderr: the outcome, how many messages
    were published and where, and whether the state was saved. Never raises for
    user mistakes; Ctrl+C and SIGTERM give `ExitStatus.INTERRUPTED` with the
    state not advanced.
    """
    configure_logging(verbose)
    name = cls.__qualname__
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = (
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt) if in_main_thread else None
    )
    collector: AbstractBaseCollector | None = None
    did_nothing = False  # nothing was attempted: the line is the error alone
    try:
        try:
            collector = cls(config_file=config_file)
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
        if did_nothing or collector is None:
            print(f"{name}: {outcome}", file=sys.stderr)
            return status
        print(f"{name}: {_summary(collector, outcome)}", file=sys.stderr)
        return status
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of one run: `--config FILE`, `--verbose`."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file to read (default: $STATEFUL_COLLECTORS_CONFIG, or *.conf in "
        "/etc/stateful-collectors/ and ~/.config/stateful-collectors/)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")


class _HelpFormatter(argparse.HelpFormatter):
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
    """The terminal's width as `shutil.get_terminal_size()` finds it (`$COLUMNS` first)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns if stdout else 0) or 80
    except (ValueError, OSError):
        return 80


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line (and exit status 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def collector_main(cls: type[AbstractBaseCollector]) -> Callable[[Sequence[str] | None], int]:
    """Make a `main()` for a console script that runs one collector.

    ```python
    from stateful_collectors import BaseCollector
    from stateful_collectors.runner import collector_main


    class DemoCollector(BaseCollector):
        raw_type = "stream"


    main = collector_main(DemoCollector)
    print(main.__name__, main.__doc__)
    #> main Run DemoCollector once. Usage: [--config FILE] [--verbose]
    ```

    In `pyproject.toml`: `[project.scripts] collector-demo = "my_package.demo:main"`, or
    point at the class's `cli_main` (see `stateful-collectors scripts`) and write no code.
    """

    def main(argv: Sequence[str] | None = None) -> int:
        parser = OneLineErrorParser(description=f"Run {cls.__qualname__} once.")
        add_run_options(parser)
        args = parser.parse_args(argv)
        return int(run_collector(cls, config_file=args.config, verbose=args.verbose))

    main.__doc__ = f"Run {cls.__qualname__} once. Usage: [--config FILE] [--verbose]"
    return main
