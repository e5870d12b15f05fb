"""MkDocs hook: the built site carries the library and the tutorial's files as downloads.

Two files are added to every build, under `downloads/` (never committed):

* the library's wheel, built in-process by hatchling (a dev dependency) from
  the source tree, offline;
* `tutorial.tar.gz`: every program and config file of `examples/`, in a
  directory `tutorial/`, the directory the guide works in.

Both are made the same way from the same files (fixed times and owners), so
a rebuild that changed nothing produces the same bytes. The wheel is kept in
memory by the content of the files it is made from, so `mkdocs serve`
rebuilds quickly. The Introduction links both; `tests/docs/test_quick_start.py`
installs them from a built site.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

DOWNLOADS = "downloads"
TUTORIAL_ARCHIVE = "tutorial.tar.gz"
TUTORIAL_DIR = "tutorial"
TUTORIAL_SUFFIXES = (".py", ".conf")
"""What the archive holds from examples/: the programs and their config files."""
_FIXED_MTIME = 1_580_601_600  # 2020-02-02, the date hatchling gives a reproducible wheel

_wheels: dict[str, tuple[str, bytes]] = {}


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def _wheel_inputs(root: Path) -> list[Path]:
    sources = sorted(p for p in (root / "src").rglob("*") if p.is_file() and _kept(p))
    return [root / "pyproject.toml", root / "README.md", *sources]


def _kept(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def build_wheel(root: Path) -> tuple[str, bytes]:
    """The library's wheel, as (file name, bytes); built once per content of its sources."""
    digest = hashlib.sha256()
    for path in _wheel_inputs(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()
    if key not in _wheels:
        from hatchling.builders.wheel import WheelBuilder

        with tempfile.TemporaryDirectory() as out:
            (built,) = WheelBuilder(str(root)).build(directory=out, versions=["standard"])
            _wheels.clear()
            _wheels[key] = (Path(built).name, Path(built).read_bytes())
    return _wheels[key]


def tutorial_archive(examples: Path) -> bytes:
    """`tutorial/` with every program and config file of `examples/`, as a .tar.gz."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=_FIXED_MTIME) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_entry(f"{TUTORIAL_DIR}/", tarfile.DIRTYPE, 0o755))
            for path in sorted(examples.iterdir()):
                if path.is_file() and path.suffix in TUTORIAL_SUFFIXES:
                    data = path.read_bytes()
                    info = _entry(f"{TUTORIAL_DIR}/{path.name}", tarfile.REGTYPE, 0o644)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/"))
    info.type, info.mode, info.mtime = kind, mode, _FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    wheel_name, wheel = build_wheel(root)
    files.append(File.generated(config, f"{DOWNLOADS}/{wheel_name}", content=wheel))
    archive = tutorial_archive(root / "examples")
    files.append(File.generated(config, f"{DOWNLOADS}/{TUTORIAL_ARCHIVE}", content=archive))
    return files
