"""Counting a child process's instructions with valgrind's callgrind, for the ``*_instructions.py`` benchmarks.

Instruction counts barely move with other load on the machine, where CPU times move by more than
the few per cent being compared; a benchmark runs its measured work in a child under callgrind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def require() -> None:
    """Exit with what to do when valgrind is missing."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on the PATH: install it (apt-get install valgrind)")


def instructions(command: list[str], out: Path, *, main_thread: bool = False) -> int:
    """Instructions ``command`` executes, as callgrind counts them: the whole process's, or with
    ``main_thread`` its main thread's only (background threads that work per second of wall time
    rather than per operation then do not count; a run lasts minutes under valgrind)."""
    threads = ["--separate-threads=yes"] if main_thread else []
    valgrind = ["valgrind", "--tool=callgrind", *threads, f"--callgrind-out-file={out}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([*valgrind, *command], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = Path(f"{out}-01") if main_thread else out
    for line in written.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no instruction total in {written}")
