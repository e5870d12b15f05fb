"""A cron-started process pays only for what it uses: what `import` and a real run load.

Each check runs in a fresh interpreter (from the repository root, with an
almost empty environment) and reads its `sys.modules` at the end. It also
notes which module imported each module the rules are about, whether the
module was loaded then or already there, so a rule names the culprit.

The rules:

* `import stateful_collectors` loads no submodule of the package, and no
  broker or HTTP client (the public names load on first use);
* a run of an outbox collector through the command line loads no broker or
  HTTP client, and none of the modules the library avoids because they are
  slow to import (`dataclasses` and `inspect`, `difflib`, `shutil`): the
  library's own value classes (`_value.py`) are written without `dataclasses`,
  and `difflib` and `shutil` are imported only by the code that needs them (a
  config error's hint, a state backup; argparse would import `shutil` for the
  terminal's width, so the command line gives it a formatter that does not);
* `hashlib` (OpenSSL) is loaded only by a run that published something: it
  computes the message ids;
* the check is not blind: importing the demo feed shows `http.client`.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import ROOT

CLIENTS = ["pika", "requests", "httpx", "urllib3", "aiohttp", "urllib.request", "http.client"]
"""Broker and HTTP clients: loaded only by the runs that talk to a broker or fetch over HTTP."""
SLOW = ["dataclasses", "inspect", "difflib", "shutil"]
"""Standard modules that a run of the library does not load (they are slow to import)."""
WATCHED = [*CLIENTS, *SLOW, "hashlib"]
COLLECTORS = "tests.support.collectors.cli"

_TRACER = """
import builtins as _builtins, sys as _sys

_WATCHED = set(WATCHED)
_IMPORTERS = {}


def _note(name, importer):
    if name in _WATCHED:
        _IMPORTERS.setdefault(name, set()).add(importer or "?")


class _FirstLoad:
    # Every first load, whatever the way (import statement or importlib.import_module).
    def find_spec(self, name, path=None, target=None):
        frame = _sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename.startswith("<frozen") or frame.f_code is _import.__code__
        ):
            frame = frame.f_back
        _note(name, frame.f_globals.get("__name__") if frame is not None else None)
        return None


_real_import = _builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    # Every import statement, also of a module that is already loaded.
    if level == 0:
        importer = (globals or {}).get("__name__")
        _note(name, importer)
        for item in fromlist or ():
            _note(f"{name}.{item}", importer)
    return _real_import(name, globals, locals, fromlist, level)


_sys.meta_path.insert(0, _FirstLoad())
_builtins.__import__ = _import
"""

_REPORT = """
import json as _json
print(_json.dumps({
    "modules": sorted(_sys.modules),
    "importers": {name: sorted(who) for name, who in _IMPORTERS.items()},
}))
"""


@dataclasses.dataclass
class Loaded:
    """What a fresh interpreter had loaded at the end, and who imported the watched modules."""

    modules: list[str]
    importers: dict[str, list[str]]

    def __contains__(self, name: str) -> bool:
        return name in self.modules

    def of(self, names: list[str]) -> list[str]:
        return [name for name in names if name in self.modules]


def loaded_after(code: str, home: Path) -> Loaded:
    """Run `code` in a fresh interpreter from the repository root; what it loaded."""
    script = (
        f"WATCHED = {WATCHED!r}\n"
        + textwrap.dedent(_TRACER)
        + textwrap.dedent(code)
        + textwrap.dedent(_REPORT)
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    return Loaded(report["modules"], report["importers"])


def slow_imports(loaded: Loaded) -> dict[str, list[str]]:
    """The SLOW modules loaded, with whoever imported them."""
    return {name: sorted(set(loaded.importers.get(name, ["?"]))) for name in loaded.of(SLOW)}


def outbox_run(tmp_path: Path, state_dir: Path, collector: str) -> tuple[Loaded, Path]:
    """`stateful-collectors run tests.support.collectors.cli:COLLECTOR`, with an outbox."""
    config = tmp_path / "c.conf"
    outbox = tmp_path / "out.jsonl"
    section = {"Counter": "counter", "RichState": "rich_state"}[collector]
    config.write_text(f"[{section}]\nstate_dir = {state_dir}\n[outbox]\npath = {outbox}\n")
    loaded = loaded_after(
        f"""
        from stateful_collectors.command.cli import main
        status = main(["run", "{COLLECTORS}:{collector}", "--config", {str(config)!r}])
        assert status == 0, status
        """,
        home=tmp_path,
    )
    return loaded, outbox


def test_import_stateful_collectors_loads_no_submodule_and_no_client(tmp_path):
    loaded = loaded_after("import stateful_collectors", home=tmp_path)
    assert [m for m in loaded.modules if m.startswith("stateful_collectors")] == [
        "stateful_collectors"
    ]
    assert loaded.of(CLIENTS) == []
    assert slow_imports(loaded) == {}


def test_the_public_names_load_no_broker_or_http_client(tmp_path):
    loaded = loaded_after(
        """
        from stateful_collectors import BaseCollector, StatefulCollectorMixin, ExitStatus
        from stateful_collectors.testing import collect, make_config
        """,
        home=tmp_path,
    )
    assert "stateful_collectors.collectors.base" in loaded
    assert loaded.of(CLIENTS) == []


def test_a_cli_run_that_publishes_loads_no_client_and_nothing_slow(tmp_path, state_dir):
    loaded, outbox = outbox_run(tmp_path, state_dir, "Counter")

    assert "stateful_collectors.sinks.outbox" in loaded  # it really ran
    assert outbox.read_text().count("\n") == 1  # and published one message
    assert loaded.of(CLIENTS) == []
    assert slow_imports(loaded) == {}
    assert "hashlib" in loaded  # the message id of what it published


def test_a_cli_run_with_nothing_to_publish_loads_no_hashlib(tmp_path, state_dir):
    loaded, outbox = outbox_run(tmp_path, state_dir, "RichState")

    assert "stateful_collectors.sinks.outbox" in loaded
    assert (state_dir / f"{COLLECTORS}.RichState.pickle").exists()  # the run saved its state
    assert not outbox.exists() or outbox.read_text() == ""  # and published nothing
    assert loaded.of(CLIENTS) == []
    assert slow_imports(loaded) == {}
    assert "hashlib" not in loaded, loaded.importers.get("hashlib")


def test_the_check_sees_an_http_client_when_one_is_imported(tmp_path):
    loaded = loaded_after("import stateful_collectors.demo.feed", home=tmp_path)
    assert "http.client" in loaded  # http.server needs it: the check is not blind
    assert "http.server" in loaded.importers.get("http.client", [])


def test_the_check_names_who_imported_a_slow_module(tmp_path):
    loaded = loaded_after("import difflib", home=tmp_path)
    assert slow_imports(loaded) == {"difflib": ["__main__"]}
