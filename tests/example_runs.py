"""Running a program of `examples/` as a real process that publishes to an outbox file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_example(program: Path, config_file: Path, outbox: Path) -> subprocess.CompletedProcess[str]:
    """`python PROGRAM --config CONFIG_FILE`, its messages in `outbox` (never a broker's)."""
    env = {**os.environ, "STATEFUL_COLLECTORS_OUTBOX": str(outbox)}
    env.pop("STATEFUL_COLLECTORS_AMQP_URL", None)
    return subprocess.run(
        [sys.executable, str(program), "--config", str(config_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
