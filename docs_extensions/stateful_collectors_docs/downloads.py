"""The site's downloads: the library's wheel and `tutorial.tar.gz`, written as a build starts.

mkdocs.yml calls `write_downloads` while it is read, through a PyYAML tag that
MkDocs and Zensical both accept (they read it with PyYAML's full loader):

    extra:
      downloads: !!python/object/apply:stateful_collectors_docs.downloads.write_downloads
        kwds: {project: ., examples: examples, into: docs/downloads}

It sees to it that `docs/downloads/` holds exactly two files, and writes them
when they are missing or out of date:

* the library's wheel, built in-process by hatchling from the source tree,
  offline, under the name hatchling gives it;
* `tutorial.tar.gz`: every program and config file of `examples/`, in a
  directory `tutorial/`, the directory the guide works in.

Both builds read mkdocs.yml before they collect the files of `docs/`, and copy
these two into the site as they copy any other (the folder is not committed:
.gitignore). Both read it again for every rebuild of `serve` after a change
under `watch:` (the library's sources, the examples, pyproject.toml, the
README), so the downloads follow the sources. Zensical renders pages later
and skips the ones its cache holds, so a Markdown extension would be too late
for it; reading the configuration is the one step both builds always take first.

Both files are made the same way from the same files (fixed times and
owners), so a rebuild that changed nothing produces the same bytes, and a
file whose bytes are already right is not written again (a watcher would
rebuild for nothing). The value the tag leaves in `extra.downloads` is the
two files' names. Paths are relative to the current directory, the project's
root, where both `mkdocs` and `zensical` find mkdocs.yml.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

TUTORIAL_ARCHIVE = "tutorial.tar.gz"
TUTORIAL_DIR = "tutorial"
TUTORIAL_SUFFIXES = (".py", ".conf")
"""What the archive holds from examples/: the programs and their config files."""
_FIXED_MTIME = 1_580_601_600  # 2020-02-02, the date hatchling gives a reproducible wheel

_wheels: dict[str, tuple[str, bytes]] = {}


def _wheel_inputs(project: Path) -> list[Path]:
    sources = sorted(p for p in (project / "src").rglob("*") if p.is_file() and _kept(p))
    return [project / "pyproject.toml", project / "README.md", *sources]


def _tutorial_inputs(examples: Path) -> list[Path]:
    return sorted(
        path for path in examples.iterdir() if path.is_file() and path.suffix in TUTORIAL_SUFFIXES
    )


def _kept(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def build_wheel(project: Path) -> tuple[str, bytes]:
    """The library's wheel, as (file name, bytes); built once per content of its sources."""
    digest = hashlib.sha256()
    for path in _wheel_inputs(project):
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()
    if key not in _wheels:
        from hatchling.builders.wheel import WheelBuilder

        with tempfile.TemporaryDirectory() as out:
            (built,) = WheelBuilder(str(project)).build(directory=out, versions=["standard"])
            _wheels.clear()
            _wheels[key] = (Path(built).name, Path(built).read_bytes())
    return _wheels[key]


def tutorial_archive(examples: Path) -> bytes:
    """`tutorial/` with every program and config file of `examples/`, as a .tar.gz."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=_FIXED_MTIME) as packed:
        with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_entry(f"{TUTORIAL_DIR}/", tarfile.DIRTYPE, 0o755))
            for path in _tutorial_inputs(examples):
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


def write_downloads(project: str, examples: str, into: str) -> dict[str, str]:
    """Make `into` hold exactly the wheel and the tutorial archive, as current bytes.

    Returns the two files' names (`wheel`, `tutorial`).
    """
    root, examples_dir, folder = Path(project), Path(examples), Path(into)
    if not (root / "pyproject.toml").is_file() or not examples_dir.is_dir():
        raise FileNotFoundError(
            f"the site's downloads are made from {root.resolve() / 'pyproject.toml'} and "
            f"{examples_dir.resolve()}/: run the build from the project's root"
        )
    wheel_name, wheel = build_wheel(root)
    wanted = {wheel_name: wheel, TUTORIAL_ARCHIVE: tutorial_archive(examples_dir)}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.name not in wanted and stale.is_file() and not stale.name.startswith("."):
            stale.unlink()
    for name, data in wanted.items():
        _write(folder / name, data)
    return {"wheel": wheel_name, "tutorial": TUTORIAL_ARCHIVE}


def _write(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it already holds it; atomically (a reader sees whole files)."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
