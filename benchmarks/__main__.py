"""`python -m benchmarks`: run every benchmark, print one table, fail when a bar is missed.

    uv run python -m benchmarks                 # every benchmark, full rounds (several minutes)
    uv run python -m benchmarks --quick         # a smoke run: a few rounds, nothing judged
    uv run python -m benchmarks --write-docs    # full run, then update the Performance page
    uv run python -m benchmarks --only state postgresql cold-start

Exit status: 0 when every bar is met (or, in --quick, when every benchmark
ran), 1 when a bar is missed or a benchmark could not run, 2 for bad options.
"""

from __future__ import annotations

import argparse
import compileall
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.chart import render_svg
from benchmarks.machine import describe_machine
from benchmarks.report import RERUN_COMMAND, docs_include, docs_rows, text_table
from benchmarks.results import Row, error_row

ROOT = Path(__file__).resolve().parent.parent
DOCS_TABLE = ROOT / "docs" / "assets" / "benchmarks-table.md"
DOCS_CHART = ROOT / "docs" / "assets" / "benchmarks.svg"


def _state(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.state_io import run_state_benchmarks

    return run_state_benchmarks(work, quick=args.quick)


def _postgresql(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.postgresql_state import postgresql_rows

    return postgresql_rows(work, quick=args.quick)


def _cold_start(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.cold_start import run_cold_start

    return run_cold_start(work, quick=args.quick)


def _publishing(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.publishing_rows import publishing_rows

    return publishing_rows(args.amqp_url, quick=args.quick)


def _nothing_new(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.whole_run import run_nothing_new

    return run_nothing_new(work, quick=args.quick)


def _growth(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.whole_run import run_growth

    return run_growth(work, quick=args.quick)


def _rows_feed(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.rows_feed import run_rows_feed

    return run_rows_feed(work, quick=args.quick)


def _project(work: Path, args: argparse.Namespace) -> list[Row]:
    from benchmarks.project_timings import run_project_timings

    return run_project_timings(quick=args.quick)


BENCHMARKS: dict[str, tuple[str, Callable[[Path, argparse.Namespace], list[Row]]]] = {
    "state": ("save_state and load_state", _state),
    "postgresql": ("the PostgreSQL state store", _postgresql),
    "cold-start": ("cold start", _cold_start),
    "publishing": ("publishing to RabbitMQ", _publishing),
    "nothing-new": ("whole runs with nothing new", _nothing_new),
    "growth": ("growth with the feed's history", _growth),
    "rows-feed": ("a time-ordered rows run over a big feed", _rows_feed),
    "project": ("site build and test suite", _project),
}
"""Name -> (what it measures, function returning its rows), in the table's order."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure stateful-collectors against baselines in one run; print one table.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a few rounds, bars not judged"
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write {DOCS_TABLE.relative_to(ROOT)} and {DOCS_CHART.relative_to(ROOT)}",
    )
    parser.add_argument(
        "--amqp-url", help="publish to this broker instead of starting a private one"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})",
    )
    args = parser.parse_args(argv)
    if args.write_docs and (args.quick or args.only):
        parser.error("--write-docs needs a full run: drop --quick and --only")
    return args


def compile_sources() -> None:
    """Write the bytecode of the library and the examples, as installing a wheel does.

    A collector installed with pip runs from compiled bytecode; a source tree
    whose environment sets PYTHONDONTWRITEBYTECODE would be compiled anew by
    every measured process, which no cron-started run pays.
    """
    for directory in (ROOT / "src", ROOT / "examples"):
        compileall.compile_dir(directory, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = args.only or list(BENCHMARKS)
    compile_sources()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        machine = describe_machine(tmp)
        mode = "quick smoke run, bars not judged" if args.quick else "full run"
        print(f"stateful-collectors benchmarks ({mode}), {machine['date']}", flush=True)
        print(
            f"{machine['CPU']}, {machine['cores']} cores, {machine['kernel']}, "
            f"{machine['Python']}, RabbitMQ {machine['RabbitMQ']}, "
            f"load average {machine['load average at the start (1, 5, 15 min)']}",
            flush=True,
        )
        for name in BENCHMARKS:
            if name not in selected:
                continue
            what, run = BENCHMARKS[name]
            print(f"  measuring {what}...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            directory = work / name
            directory.mkdir()
            try:
                rows += run(directory, args)
            except Exception as exc:  # the table shows it; the run fails
                rows.append(error_row(what, exc))
            print(f"  {what}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print()
    print(text_table(rows))
    failed = [row for row in rows if row.failed]
    print()
    if failed:
        print(f"{len(failed)} row(s) missed a bar or could not be measured.")
    elif args.quick:
        print("Every benchmark ran (--quick: too few rounds to judge the bars).")
    else:
        print("Every bar is met.")
    if args.write_docs:
        DOCS_TABLE.parent.mkdir(parents=True, exist_ok=True)
        DOCS_TABLE.write_text(docs_include(rows, machine))
        DOCS_CHART.write_text(render_svg(docs_rows(rows), machine))
        print(f"Wrote {DOCS_TABLE.relative_to(ROOT)} and {DOCS_CHART.relative_to(ROOT)}.")
    elif not args.quick and not args.only:
        print(f"To update the Performance page: {RERUN_COMMAND}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
