"""Every `dbplex ...` command the README and docs show names commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from dbplex.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md")])
INLINE = re.compile(r"`(dbplex [^`]+)`")
BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)


def shown_commands(page: Path) -> list[str]:
    """``dbplex`` invocations in code spans and at the start of code-block lines."""
    text = page.read_text()
    found = INLINE.findall(text)
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            found += [part.strip() for part in re.split(r"&&|\|", line) if part.strip().startswith("dbplex ")]
    return found


def tokens(command: str) -> list[str]:
    command = command.split(" #")[0]
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in prose: the words are enough
        return command.split()


CASES = [(page, command) for page in PAGES for command in shown_commands(page)]


@pytest.mark.parametrize(("page", "command"), CASES, ids=[f"{p.relative_to(ROOT)}:{c[:60]}" for p, c in CASES])
def test_command_and_options_exist(page: Path, command: str) -> None:
    words = tokens(command)[1:]
    current: click.Command = cli
    path = ["dbplex"]
    ctx = click.Context(cli)
    while words and isinstance(current, click.Group) and words[0] in current.list_commands(ctx):
        found = current.get_command(ctx, words[0])  # imports a lazy group's subcommand
        assert found is not None
        current = found
        path.append(words.pop(0))
    if isinstance(current, click.Group) and words and re.fullmatch(r"[a-z][a-z-]+", words[0]):
        pytest.fail(f"{page.relative_to(ROOT)}: `{command}`: {' '.join(path)} has no command {words[0]!r}")
    known = {opt for param in current.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"--help"}
    for word in words:
        if word.startswith("--"):
            option = word.split("=")[0]
            assert option in known, f"{page.relative_to(ROOT)}: `{command}`: {' '.join(path)} has no option {option}"
