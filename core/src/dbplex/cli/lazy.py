"""A command group whose subcommands are imported when they run, not when ``dbplex`` starts.

``bench`` pulls in rich and the workload engine, ``sandbox`` the server launchers: importing
every group up front more than doubled the time of ``dbplex --help``. The group knows each lazy
subcommand's import path and one-line help, so listing them (``--help``) imports nothing;
:func:`click.Group.get_command` imports the subcommand, so whatever walks the tree with click's
API (``list_commands`` and ``get_command``) sees every command.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import click

from dbplex.cli.errors import ReportingGroup


class Lazy(NamedTuple):
    """Where a subcommand lives (``"package.module:name"``) and its one-line help, in full
    (``--help`` shortens it to the terminal's width as click does)."""

    target: str
    short_help: str


class LazyGroup(ReportingGroup):
    """A :class:`ReportingGroup` with subcommands imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, Lazy] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Lazy] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        """Import lazy subcommand ``name``."""
        module, _, attribute = self.lazy[name].target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[name].target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help``, with lazy subcommands described without importing them."""
        rows: list[tuple[str, str]] = []
        limit = formatter.width - 6 - max(map(len, self.list_commands(ctx)), default=0)
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                described = click.Command(name, help=self.lazy[name].short_help)
                rows.append((name, described.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
