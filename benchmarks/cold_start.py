"""Cold start: what `import stateful_collectors` adds to a fresh interpreter.

Bar: `python -c "import stateful_collectors"` at most 30 ms wall time over
`python -c pass`, both run as whole processes with the same interpreter (the
project's virtual environment) and timed from outside, in interleaved rounds.

For context, two more processes show what a real run pays before it does any
work: importing the collector base classes, and the command line's module.
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks.measure import interleave, median, paired_difference, run_process
from benchmarks.results import Row, format_seconds, judged

__all__ = ["COLD_START_BAR", "run_cold_start"]

COLD_START_BAR = 0.030
"""Seconds that `import stateful_collectors` may add to `python -c pass`."""


def run_cold_start(*, quick: bool = False) -> list[Row]:
    """Time the interpreter with and without the package; return the table's rows."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the package comes from the environment, as for a user
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cwd:
        codes = {
            "pass": "pass",
            "package": "import stateful_collectors",
            "base": "from stateful_collectors import BaseCollector, StatefulCollectorMixin",
            "cli": "import stateful_collectors.cli",
        }
        contenders = {
            name: (lambda argv=[sys.executable, "-c", code]: run_process(argv, cwd=cwd, env=env))
            for name, code in codes.items()
        }
        timings = interleave(contenders, rounds=3 if quick else 40)
    bare = median(timings["pass"])
    package = median(timings["package"])
    added = paired_difference(timings["package"], timings["pass"])
    rows = [
        judged(
            "cold start: import stateful_collectors",
            format_seconds(package),
            f"{format_seconds(bare)} python -c pass",
            ratio=f"{added * 1000:+.1f} ms",
            bar=f"<= +{COLD_START_BAR * 1000:.0f} ms",
            passed=added <= COLD_START_BAR,
            quick=quick,
            cost=package / bare,
            cost_limit=(bare + COLD_START_BAR) / bare,
            chart_label="cold start (import)",
        )
    ]
    for key, what in (
        ("base", "import the base classes"),
        ("cli", "import stateful_collectors.cli"),
    ):
        took = median(timings[key])
        rows.append(
            Row(
                f"cold start: {what}",
                format_seconds(took),
                f"{format_seconds(bare)} python -c pass",
                f"{paired_difference(timings[key], timings['pass']) * 1000:+.1f} ms",
                "",
                "context",
            )
        )
    return rows
