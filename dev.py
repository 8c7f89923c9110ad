#!/usr/bin/env python3
"""Run a tox environment with nothing but Python installed.

    python3 dev.py demo   # the main job (sandbox servers, ops, benchmark, health)
    python3 dev.py test   # lint, types and the tests on sandbox servers

The first run creates .venv-tox with tox in it; tox builds every other environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BOOTSTRAP = ROOT / ".venv-tox"
ALIASES = {"test": "lint,type,py"}


def tox_python() -> Path:
    python = BOOTSTRAP / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(BOOTSTRAP)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "tox>=4.11"], check=True)
    return python


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    env = ALIASES.get(sys.argv[1], sys.argv[1])
    return subprocess.run([tox_python(), "-m", "tox", "-e", env, *sys.argv[2:]], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
