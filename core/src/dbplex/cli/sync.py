"""What ``dbplex sync`` does: copy a table into a table of records elsewhere, resumably, then
check the mirror; exit 1 when the copy still differs.

Imported when the command runs, so ``dbplex --help`` imports none of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from dbplex.cli.errors import reported

if TYPE_CHECKING:
    from dbplex.sync.engine import Progress, Sync


def run(
    ctx: click.Context,
    source: str,
    target: str,
    map_file: str,
    since: str | None,
    delete: bool,
    batch: int,
    as_json: bool,
) -> None:
    """Sync ``source`` into ``target`` and report (see :mod:`dbplex.sync.engine`)."""
    from dbplex.cli.check import _line
    from dbplex.cli.main import emit_json, open_hub
    from dbplex.sync import mapping
    from dbplex.sync.engine import Sync

    with reported():
        sync_map = mapping.load(map_file)
        with open_hub(ctx) as hub, ExitStack() as stack:
            sync = Sync(hub, source, target, sync_map, since)
            progress = None
            if not as_json:
                progress = stack.enter_context(_bar(sync))
            report = sync.run(batch=batch, delete=delete, progress=progress)
    if as_json:
        emit_json(report)
    else:
        resumed = f", resumed after key {report.resumed_after}" if report.resumed else ""
        since_note = f", {report.skipped} older than --since skipped" if since is not None else ""
        deleted = f", {report.deleted} deleted" if delete else ""
        click.echo(
            f"synced {report.source} -> {report.target}: read {report.read}, written {report.written}"
            f"{since_note}{deleted}{resumed} (run {report.run_id})"
        )
        click.echo(_line(report.mirror))
    sys.exit(0 if report.ok else 1)


@contextmanager
def _bar(sync: Sync) -> Iterator[Progress]:
    """A rich progress bar on stderr, drawn only on a terminal (the total costs a count there)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    from dbplex.cli.console import make_console

    console = make_console(stderr=True)
    if not console.is_terminal:  # piped: nothing at all on stderr (a disabled bar may still end a line)
        yield lambda done: None
        return
    total = sync.hub.checker(sync.src.source).count(sync.src.table)
    columns = (TextColumn(f"{sync.src} -> {sync.dst}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Bar(*columns, console=console, transient=True) as shown:
        task = shown.add_task("sync", total=total)
        yield lambda done: shown.update(task, completed=done)
