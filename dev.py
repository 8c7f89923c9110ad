#!/usr/bin/env python3
"""Run a tox environment with nothing but Python installed.

    python3 dev.py demo          # the main job (sandbox servers, ops, benchmark, health)
    python3 dev.py test          # lint, types and the tests on sandbox servers
    python3 dev.py py-latest     # the tests on the newest releases of every dependency
    python3 dev.py py-oldest     # the tests on Python 3.10 with the lowest versions allowed
    python3 dev.py docs          # the documentation site, built strictly (tox -e docs)
    python3 dev.py constraints   # rewrite constraints/tested.txt and constraints/oldest.txt

The first run creates .venv-tox with tox in it; tox builds every other environment.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BOOTSTRAP = ROOT / ".venv-tox"
CONSTRAINTS = ROOT / "constraints"
ALIASES = {"test": "lint,type,py"}
OLDEST_PYTHON = "3.10"


def bootstrap_python() -> Path:
    python = BOOTSTRAP / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(BOOTSTRAP)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "tox>=4.11"], check=True)
    return python


def oldest_python() -> str | None:
    """A Python 3.10 interpreter: ``$DBPLEX_OLDEST_PYTHON``, ``python3.10`` on PATH, or pyenv's."""
    given = os.environ.get("DBPLEX_OLDEST_PYTHON")
    if given:
        return given
    candidates = [shutil.which(f"python{OLDEST_PYTHON}")]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{OLDEST_PYTHON}.*/bin/python{OLDEST_PYTHON}"), reverse=True)
    for candidate in filter(None, candidates):
        # pyenv's shim is on PATH even where the version is not active: ask it to run
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def refresh_constraints(python: Path) -> int:
    """Pin the newest releases (tested.txt) and the lowest ones the pyprojects allow (oldest.txt)."""
    subprocess.run([python, "-m", "pip", "install", "--quiet", "uv>=0.5"], check=True)
    inputs = [str(CONSTRAINTS / "dev.in"), str(CONSTRAINTS / "tools.in"), str(CONSTRAINTS / "docs.in")]
    runs = {
        "tested.txt": ["--python-version", "3.11"],
        "oldest.txt": ["--python-version", OLDEST_PYTHON, "--resolution", "lowest-direct"],
    }
    for name, options in runs.items():
        compiled = subprocess.run(
            [python, "-m", "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate", *options, *inputs],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            print(f"constraints/{name}: uv cannot resolve:\n{compiled.stderr}", file=sys.stderr)
            return 1
        pins = [line for line in compiled.stdout.splitlines() if line and not line.startswith("-e ")]
        header = f"# Written by `python3 dev.py constraints` (uv pip compile {' '.join(options)}); see docs/development.md.\n"
        (CONSTRAINTS / name).write_text(header + "\n".join(pins) + "\n")
        print(f"constraints/{name}: {len(pins)} pins")
    return 0


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    python = bootstrap_python()
    if sys.argv[1] == "constraints":
        return refresh_constraints(python)
    env = ALIASES.get(sys.argv[1], sys.argv[1])
    environ = dict(os.environ)
    if "py-oldest" in env.split(","):
        found = oldest_python()
        if found is None:
            print(f"py-oldest needs Python {OLDEST_PYTHON}: install it, or set DBPLEX_OLDEST_PYTHON", file=sys.stderr)
            return 2
        environ["DBPLEX_OLDEST_PYTHON"] = found
    return subprocess.run([python, "-m", "tox", "-e", env, *sys.argv[2:]], cwd=ROOT, env=environ).returncode


if __name__ == "__main__":
    sys.exit(main())
