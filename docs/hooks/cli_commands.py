"""MkDocs hook: load dbplex's lazy subcommands before mkdocs-click documents the tree.

``dbplex``'s group imports a subcommand only when it runs (:mod:`dbplex.cli.lazy`). mkdocs-click
lists a group's subcommands from its ``commands`` mapping when that is not empty, which for
``dbplex`` holds only the eager commands, so without this the reference would silently lack
``bench``, ``migrate``, ``partition`` and the rest. Asking the group for each of its commands
through click's API registers every lazy one, recursively.
"""

from __future__ import annotations

from typing import Any

import click


def on_config(config: Any) -> Any:
    from dbplex.cli.main import cli

    load_all(cli)
    return config


def load_all(command: click.Command) -> None:
    """Import every lazy subcommand under ``command``."""
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None:
                load_all(sub)
