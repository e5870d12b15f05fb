"""What the figures were measured on: CPU, cores, kernel, Python, RabbitMQ, file system, load."""

from __future__ import annotations

import datetime as dt
import glob
import os
import platform
import re
import subprocess
from pathlib import Path

__all__ = ["describe_machine"]

RABBITMQ_LIB = "/usr/lib/rabbitmq/lib"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found.group(1).strip() if found else platform.processor() or "unknown CPU"


def _rabbitmq_version() -> str:
    versions = sorted(
        path.rsplit("rabbitmq_server-", 1)[1]
        for path in glob.glob(f"{RABBITMQ_LIB}/rabbitmq_server-*")
    )
    return versions[-1] if versions else "not installed"


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    found = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', text, re.M)
    return found.group(1) if found else platform.system()


def _file_system(path: str) -> str:
    """The type of the file system holding `path` (where the state files were written)."""
    try:
        output = subprocess.run(
            ["df", "--output=fstype", path], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    lines = output.split()
    return lines[-1] if len(lines) > 1 else "unknown"


def describe_machine(work_dir: str) -> dict[str, str]:
    """The machine and the moment, as `label -> text`, for the report and the page."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "OS": _os_name(),
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "RabbitMQ": _rabbitmq_version(),
        "file system of the state files": _file_system(work_dir),
        "load average at the start (1, 5, 15 min)": load,
    }
