"""``dbplex slowlog``: the slowest operations each source's server keeps, merged."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from dbplex.cli.errors import reported
from dbplex.slowlog.model import SlowReport


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="Entries read from each source.",
)
@click.pass_context
def slowlog(ctx: click.Context, sources: tuple[str, ...], as_json: bool, limit: int) -> None:
    """Slowest operations each server keeps (pg_stat_statements, MongoDB profiler, Redis SLOWLOG), merged.

    Every configured source unless SOURCEs are named. A server that keeps none as configured is
    said in a note (exit 0); a source that fails to answer exits 1. Values are hidden unless the
    source's `slow.redact = false`.
    """
    import dbplex
    from dbplex.slowlog.collect import collect

    with reported(), dbplex.open(ctx.obj.config_path) as hub:
        report = collect(hub, list(sources), limit)
    if as_json:
        from dbplex.cli.main import emit_json

        emit_json(report)
    else:
        _render(report)
    sys.exit(1 if any(note.level == "error" for note in report.notes) else 0)


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _render(report: SlowReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from dbplex.cli.console import make_console
    from dbplex.secrets import scrub

    table = Table("source", "origin", "ms", "calls", "when (UTC)", "operation")
    for entry in report.entries:
        table.add_row(
            entry.source,
            entry.origin,
            f"{entry.duration_ms:.1f}",
            "" if entry.calls is None else str(entry.calls),
            _when(entry.at),
            escape(scrub(entry.operation)),
        )
    console = make_console()
    console.print(table)
    for note in report.notes:
        style = "red" if note.level == "error" else "dim"
        console.print(f"[{style}]{note.source}: {escape(scrub(note.message))}[/]")
