#!/usr/bin/env python3
"""Release check of every distribution (``tox -e package``): what a user's ``pip install`` gets.

Builds the sdist and wheel of each distribution (the wheel from the sdist, as ``python -m build``
does), runs ``twine check --strict``, checks each carries its version, licence, README and
``py.typed``, then installs the wheels (never the source tree) into a fresh virtualenv and, from a
temporary working directory, runs ``dbplex plugins`` and the conformance suites of the four
backends with the installed ``dbplex.testing``. Servers: ``DBPLEX_TEST_*_URL`` when set, else the
sandbox the suite starts. ``--keep`` leaves the temporary directory for a look.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = (ROOT / "VERSION").read_text().strip()
#: source dir -> (distribution, import package, extras installed, version it must carry).
DISTRIBUTIONS = {
    "core": ("dbplex", "dbplex", "[sandbox,test]", VERSION),
    "plugins/pg": ("dbplex-pg", "dbplex_pg", "[binary,bench]", VERSION),
    "plugins/mongo": ("dbplex-mongo", "dbplex_mongo", "", VERSION),
    "plugins/redis": ("dbplex-redis", "dbplex_redis", "", VERSION),
    # the example third-party plugin keeps a version of its own, as a third party's would
    "examples/dbplex-sqlite": ("dbplex-sqlite", "dbplex_sqlite", "", "0.1.0"),
}
#: the conformance suites run from the wheels: the repository's own test modules (and the
#: fixtures of their folder), copied out of the source tree, one folder per backend.
SUITES = {
    "pg": ["tests/pg/conftest.py", "tests/pg/test_conformance.py"],
    "mongo": ["tests/mongo/conftest.py", "tests/mongo/test_conformance.py"],
    "redis": ["tests/redis/conftest.py", "tests/redis/test_conformance.py"],
    "sqlite": ["examples/dbplex-sqlite/tests/test_conformance.py"],
}
BACKENDS = {"pg", "mongo", "redis", "redis_cluster", "sqlite"}


def run(*command: str | Path, cwd: Path = ROOT, echo: bool = True) -> str:
    print("$", " ".join(str(c) for c in command), flush=True)
    proc = subprocess.run([str(c) for c in command], cwd=cwd, stdout=subprocess.PIPE, text=True)
    if echo or proc.returncode != 0:
        print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"package: failed ({proc.returncode}): {' '.join(str(c) for c in command)}")
    return proc.stdout


def wheel_name(dist: str, version: str) -> str:
    return f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"


def check_contents(dist_dir: Path) -> None:
    """Each wheel has py.typed and the licence; each sdist the licence and the README."""
    for dist, package, _, version in DISTRIBUTIONS.values():
        stem = f"{dist.replace('-', '_')}-{version}"
        with zipfile.ZipFile(dist_dir / wheel_name(dist, version)) as wheel:
            names = set(wheel.namelist())
        wanted = {f"{package}/py.typed", f"{stem}.dist-info/licenses/LICENSE"}
        if not wanted <= names:
            raise SystemExit(f"package: {dist} wheel lacks {sorted(wanted - names)}")
        with tarfile.open(dist_dir / f"{stem}.tar.gz") as sdist:
            names = set(sdist.getnames())
        wanted = {f"{stem}/LICENSE", f"{stem}/README.md", f"{stem}/PKG-INFO"}
        if not wanted <= names:
            raise SystemExit(f"package: {dist} sdist lacks {sorted(wanted - names)}")
    print(f"package: every wheel has py.typed and LICENSE, every sdist LICENSE and README (version {VERSION})")


def main() -> int:
    keep = "--keep" in sys.argv[1:]
    work = Path(tempfile.mkdtemp(prefix="dbplex-package-"))
    try:
        dist_dir = work / "dist"
        for source in DISTRIBUTIONS:
            run(sys.executable, "-m", "build", "--outdir", dist_dir, ROOT / source)
        run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist_dir.iterdir()))
        check_contents(dist_dir)

        env_dir = work / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        python = env_dir / "bin" / "python"
        wheels = [f"{dist_dir / wheel_name(d, v)}{extras}" for d, _, extras, v in DISTRIBUTIONS.values()]
        run(python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints" / "tested.txt", *wheels)

        cwd = work / "run"  # no source tree on sys.path: -I, and a directory of its own
        cwd.mkdir()
        where = run(
            python,
            "-I",
            "-c",
            "import json, "
            + ", ".join(p for _, p, _, _ in DISTRIBUTIONS.values())
            + "; print(json.dumps({m.__name__: m.__file__ for m in ("
            + ", ".join(p for _, p, _, _ in DISTRIBUTIONS.values())
            + ")}))",
            cwd=cwd,
        )
        site = str(env_dir.resolve())
        outside = {
            name: path for name, path in json.loads(where).items() if not str(Path(path).resolve()).startswith(site)
        }
        if outside:
            raise SystemExit(f"package: imported from outside the fresh virtualenv: {outside}")

        run(env_dir / "bin" / "dbplex", "plugins", cwd=cwd)
        listed = json.loads(run(env_dir / "bin" / "dbplex", "plugins", "--json", cwd=cwd, echo=False))
        loaded = {b["name"] for p in listed["plugins"] for b in p["backends"]}
        if listed["load_errors"] or not loaded >= BACKENDS:
            raise SystemExit(f"package: dbplex plugins: backends {sorted(loaded)}, load errors {listed['load_errors']}")

        suites = cwd / "conformance"
        for backend, files in SUITES.items():
            (suites / backend).mkdir(parents=True)
            for source in files:
                shutil.copyfile(ROOT / source, suites / backend / Path(source).name)
        run(
            python,
            "-I",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
            suites,
            cwd=cwd,
        )
        print("package: built, checked, installed from wheels, listed and conformant")
        return 0
    finally:
        if keep:
            print(f"package: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
