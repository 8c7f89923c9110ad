"""The distributions are release-ready by construction: one version, ranges that admit it, and the
licence, README and ``py.typed`` each needs (``tox -e package`` builds and installs them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
VERSION = Version((ROOT / "VERSION").read_text().strip())
#: the distributions released together at VERSION, and the example third-party plugin.
OWN = {"core": "dbplex", "plugins/pg": "dbplex_pg", "plugins/mongo": "dbplex_mongo", "plugins/redis": "dbplex_redis"}
ALL = {**OWN, "examples/dbplex-sqlite": "dbplex_sqlite"}


def project(directory: str) -> dict[str, Any]:
    loaded: dict[str, Any] = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())
    return loaded


def dbplex_requirements(directory: str) -> list[Requirement]:
    meta = project(directory)["project"]
    written = [
        *meta.get("dependencies", []),
        *(r for extra in meta.get("optional-dependencies", {}).values() for r in extra),
    ]
    return [r for r in map(Requirement, written) if r.name.startswith("dbplex")]


@pytest.mark.parametrize("directory", sorted(OWN))
def test_each_own_distribution_takes_its_version_from_the_one_version_file(directory: str) -> None:
    pyproject = project(directory)
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert (ROOT / directory / pyproject["tool"]["hatch"]["version"]["path"]).resolve() == ROOT / "VERSION"


@pytest.mark.parametrize("directory", sorted(ALL))
def test_dbplex_ranges_admit_this_version_and_stop_before_the_next_minor(directory: str) -> None:
    """Until 1.0 a minor release may change a hook: a range must end below the next minor."""
    next_minor = Version(f"{VERSION.major}.{VERSION.minor + 1}")
    for requirement in dbplex_requirements(directory):
        assert requirement.specifier.contains(VERSION), f"{directory}: {requirement} excludes {VERSION}"
        assert not requirement.specifier.contains(next_minor), f"{directory}: {requirement} admits {next_minor}"


@pytest.mark.parametrize("directory", sorted(ALL))
def test_each_distribution_ships_the_licence_a_readme_and_py_typed(directory: str) -> None:
    package = ALL[directory]
    assert (ROOT / directory / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    meta = project(directory)["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / directory / meta["readme"]).is_file()
    assert (ROOT / directory / "src" / package / "py.typed").is_file()


def test_the_conformance_suite_imports_without_the_bench_extra() -> None:
    """A plugin author installs ``dbplex[test]``, not ``dbplex[bench]``."""
    code = "import sys; sys.modules['hdrh'] = sys.modules['matplotlib'] = None; import dbplex.testing.conformance"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
