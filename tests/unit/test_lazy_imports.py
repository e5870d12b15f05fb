"""A cron-started process pays only for what it uses: no broker or HTTP client unless needed.

Each check runs in a fresh interpreter and reads its `sys.modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEAVY = ["pika", "requests", "httpx", "urllib3", "aiohttp", "urllib.request", "http.client"]


def loaded_after(code: str, cwd: Path = HERE) -> list[str]:
    """The modules `code` leaves in sys.modules, from a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json as _json, sys as _sys
        print(_json.dumps(sorted(_sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_import_stateful_collectors_loads_nothing_of_its_own_but_the_package():
    modules = loaded_after("import stateful_collectors")
    assert [m for m in modules if m.startswith("stateful_collectors")] == ["stateful_collectors"]
    assert [m for m in HEAVY if m in modules] == []


def test_the_public_names_load_no_broker_or_http_client():
    modules = loaded_after(
        """
        from stateful_collectors import BaseCollector, StatefulCollectorMixin, ExitStatus
        from stateful_collectors.testing import collect, make_config
        """
    )
    assert "stateful_collectors.collectors.base" in modules
    assert [m for m in HEAVY if m in modules] == []


def test_running_an_outbox_collector_from_the_cli_loads_no_broker_or_http_client(
    tmp_path, state_dir
):
    config = tmp_path / "c.conf"
    config.write_text(
        f"[counter]\nstate_dir = {state_dir}\n[outbox]\npath = {tmp_path}/out.jsonl\n"
    )
    modules = loaded_after(
        f"""
        from stateful_collectors.cli import main
        status = main(["run", "cli_collectors:Counter", "--config", {str(config)!r}])
        assert status == 0, status
        """
    )
    assert "stateful_collectors.sinks.outbox" in modules  # it really ran
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1
    assert [m for m in HEAVY if m in modules] == []


def test_the_check_sees_an_http_client_when_one_is_imported():
    modules = loaded_after("import stateful_collectors.demo_feed")
    assert "http.client" in modules  # http.server needs it: the check is not blind
