"""The version is in one place, `stateful_collectors.__version__`, and everything agrees with it.

`pyproject.toml` declares it dynamic and hatchling reads it from the package;
a wheel built from the source carries it in its metadata, and so does the
installed package. The changelog's newest version and the wheel the guide's
Introduction offers for download name it too (the pages cannot read it, so
they are checked).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
import zipfile
from pathlib import Path

import pytest

import stateful_collectors
from tests.support import ROOT

VERSION = stateful_collectors.__version__


def test_pyproject_reads_the_version_from_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "src/stateful_collectors/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


def test_a_wheel_built_from_the_source_carries_the_version(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    assert Path(wheel).name == f"stateful_collectors-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"stateful_collectors-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata


def test_the_installed_package_carries_the_version():
    assert importlib.metadata.version("stateful-collectors") == VERSION


def test_the_changelog_starts_with_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert versions[0] == VERSION, versions
    assert len(set(versions)) == len(versions), versions


@pytest.mark.parametrize("page", ["docs/index.md", "README.md"])
def test_the_pages_offer_the_wheel_of_this_version(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    named = set(re.findall(r"stateful_collectors-([\w.]+)-py3-none-any\.whl", text))
    assert named <= {VERSION}, f"{page} names the wheel of version(s) {sorted(named)}"
