"""The README runs as written: every block, in order, on a sandbox of its own.

Shell blocks (```sh) run line by line in one bash script per block; ``export`` lines carry over
to later blocks, as in the reader's shell. Python blocks run as a script. The TOML block is
loaded as a configuration. A line whose comment says "(run by .ci/run ...)" or "(not run by the
README test: ...)" is reported as a skip with that reason instead of being run, so nothing is
left out silently.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import dbplex.config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"\((run by \.ci/run[^)]*|not run by the README test: [^)]*)\)")
EXPORT = re.compile(r"^export (\w+)=(\S+)$")


@dataclass(frozen=True)
class Block:
    number: int
    language: str
    heading: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.number}-{self.language}-{self.heading.lower().replace(' ', '-')}"


def blocks() -> list[Block]:
    text = README.read_text()
    found = []
    for number, match in enumerate(FENCE.finditer(text), start=1):
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append(Block(number, match[1], headings[-1] if headings else "top", match[2]))
    return found


def command_lines(block: Block) -> list[str]:
    return [line for line in block.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


RUNNABLE = [b for b in blocks() if b.language in ("sh", "python", "toml")]
NOT_RUN_LINES = [(b, line) for b in RUNNABLE if b.language == "sh" for line in command_lines(b) if NOT_RUN.search(line)]


class Reader:
    """What a reader's terminal keeps between blocks: the working directory and exported variables."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DBPLEX_")}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.started_sandbox = False

    def run(self, argv: list[str], what: str) -> None:
        done = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (
            f"{what} failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
        assert "Traceback (most recent call last)" not in done.stderr, done.stderr


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    # the sandbox's PostgreSQL may run as another user: a folder under the system temp dir, not pytest's
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="dbplex-readme-"))
    (workdir / "examples").symlink_to(ROOT / "examples")
    reader = Reader(workdir)
    yield reader
    if (workdir / ".dbplex-sandbox").exists():  # a block failed before `dbplex sandbox down`
        subprocess.run(["dbplex", "sandbox", "down"], cwd=workdir, env=reader.env, capture_output=True, check=False)
    subprocess.run(["rm", "-rf", str(workdir)], check=False)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_block_runs_as_written(block: Block, reader: Reader) -> None:
    if block.language == "toml":
        path = reader.workdir / "readme-config.toml"
        path.write_text(block.text)
        secrets = dict.fromkeys(re.findall(r"\$\{(\w+)\}", block.text), "example")
        os.environ.update(secrets)
        try:
            config = dbplex.config.load(path)
        finally:
            for name in secrets:
                del os.environ[name]
        assert config.sources, "the configuration example names no source"
        return
    if block.language == "python":
        script = reader.workdir / f"readme-block-{block.number}.py"
        script.write_text(block.text)
        reader.run([sys.executable, str(script)], f"README block {block.number} (python)")
        return
    lines = []
    for line in command_lines(block):
        if NOT_RUN.search(line):
            continue
        exported = EXPORT.match(line.strip())
        if exported:
            reader.env[exported[1]] = exported[2]
        lines.append(line)
    if not lines:
        pytest.skip("every line of this block is run elsewhere (see the not-run tests)")
    for line in lines:
        reader.run(["bash", "-c", f"set -euo pipefail\n{line}"], f"README block {block.number}: {shlex.quote(line)}")


@pytest.mark.parametrize(
    ("block", "line"), NOT_RUN_LINES, ids=[f"{b.number}-{line.split('#')[0].strip()}" for b, line in NOT_RUN_LINES]
)
def test_lines_not_run_here_say_where_they_run(block: Block, line: str) -> None:
    reason = NOT_RUN.search(line)
    assert reason is not None
    pytest.skip(f"README block {block.number}: {line.split('#')[0].strip()}: {reason[1]}")
