"""Cold start: what a cron-started run pays in imports before it does any work.

A process is started from scratch on every run, so every module a run
imports costs it every time. This benchmark finds the modules a real run
imports (the complete example, refined to publish nothing when nothing is
new, run by `stateful-collectors run` against the demo feed; the modules it
has loaded when it exits), then times a process that imports exactly those
against `python -c pass`: both whole processes with the same interpreter (the
project's virtual environment), timed from outside in interleaved rounds.
The collector's own module is left out: it is the user's cost, not the
library's. For context also `import stateful_collectors` alone.

These rows are context (no bar): what a whole run costs is judged by the
whole-run benchmark (`benchmarks/whole_run.py`), against a hand-written
script that does the same work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import BenchmarkError, interleave, median, paired_difference, run_process
from benchmarks.results import Row, format_seconds
from benchmarks.whole_run import EXAMPLES, FEED_START, Program
from stateful_collectors.demo import DemoFeed

__all__ = ["run_cold_start", "run_imports"]

_COLLECTOR_MODULES = {"quiet_collector", "my_statefull_collector"}

# What the `stateful-collectors` console script does, with sys.modules written out at exit.
_TRACED_MAIN = """
import atexit, json, sys
atexit.register(lambda: print("MODULES", json.dumps(sorted(sys.modules)), file=sys.stderr))
from stateful_collectors.command.cli import main
sys.argv[0] = "stateful-collectors"
sys.exit(main())
"""


def run_imports(directory: Path) -> list[str]:
    """The modules a run with nothing new has loaded when it exits (the collector's excepted)."""
    feed = DemoFeed(20, start=FEED_START)
    with feed.serve() as server:
        target = f"{EXAMPLES / 'quiet_collector.py'}:QuietCollector"
        program = Program.library(directory / "traced", target, f"{server.url}/items.json")
        program.run()  # the first run publishes the feed; the traced one finds nothing new
        traced = subprocess.run(
            [sys.executable, "-c", _TRACED_MAIN, *program.argv[1:]],
            cwd=program.workdir,
            env=program.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    lines = [line for line in traced.stderr.splitlines() if line.startswith("MODULES ")]
    if traced.returncode != 0 or not lines:
        raise BenchmarkError(f"the traced run failed: {traced.stderr.strip().splitlines()[-1:]}")
    modules = json.loads(lines[-1].removeprefix("MODULES "))
    if "stateful_collectors.runtime.runner" not in modules:
        raise BenchmarkError("the traced run did not load the runner: the trace is wrong")
    return [m for m in modules if m not in _COLLECTOR_MODULES and m != "__main__"]


def run_cold_start(directory: Path, *, quick: bool = False) -> list[Row]:
    """Time a process importing what a run imports, and `import stateful_collectors`."""
    modules = run_imports(directory)
    ours = [module for module in modules if module.split(".")[0] == "stateful_collectors"]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the package comes from the environment, as for a user
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cwd:
        codes = {
            "pass": "pass",
            "run": "import " + ", ".join(modules),
            "package": "import stateful_collectors",
        }
        contenders = {
            name: (lambda argv=[sys.executable, "-c", code]: run_process(argv, cwd=cwd, env=env))
            for name, code in codes.items()
        }
        timings = interleave(contenders, rounds=3 if quick else 40)
    bare = median(timings["pass"])
    rows = []
    for key, what in (
        ("run", f"what a run imports ({len(ours)} modules of the library, {len(modules)} in all)"),
        ("package", "import stateful_collectors"),
    ):
        rows.append(
            Row(
                f"cold start: {what}",
                format_seconds(median(timings[key])),
                f"{format_seconds(bare)} python -c pass",
                f"{paired_difference(timings[key], timings['pass']) * 1000:+.1f} ms",
                "",
                "context",
            )
        )
    return rows
