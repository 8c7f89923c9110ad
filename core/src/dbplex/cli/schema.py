"""``dbplex schema``: compare the shapes of tables, collections and key families across sources."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dbplex.cli.errors import reported

if TYPE_CHECKING:
    from dbplex.schema.diff import Difference
    from dbplex.schema.model import FieldShape


@click.group()
def schema() -> None:
    """Compare tables, collections and key families across sources; propose aligning migrations."""


def _typed(field: FieldShape) -> str:
    required = {True: ", required", False: ", optional", None: ""}[field.required]
    return f"{field.type} ({field.source_type}{required})"


def _line(d: Difference, a: str, b: str) -> str:
    name = f"{d.field} (as {d.renamed} in {b})" if d.renamed else d.field
    if d.kind == "missing":
        assert d.a is not None
        return f"missing   {name}: {_typed(d.a)} in {a}, absent from {b}"
    if d.kind == "extra":
        assert d.b is not None
        return f"extra     {name}: {_typed(d.b)} in {b}, absent from {a}"
    assert d.a is not None and d.b is not None
    return f"{d.kind:<9} {name}: {_typed(d.a)} in {a}, {_typed(d.b)} in {b}"


@schema.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--sample",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    metavar="N",
    help="Records read from a collection or key family to infer fields a schema does not declare.",
)
@click.option(
    "--rename",
    "rename_pairs",
    multiple=True,
    metavar="A_FIELD=B_FIELD",
    help="A field of A has this name in B (repeatable).",
)
@click.option(
    "--write-migration",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write the migration aligning B to A in DIR/<B's source>/, numbered after the highest version there.",
)
@click.pass_context
def diff(
    ctx: click.Context,
    a: str,
    b: str,
    as_json: bool,
    sample: int,
    rename_pairs: tuple[str, ...],
    directory: Path | None,
) -> None:
    """Fields of B (SOURCE.TABLE, SOURCE.COLLECTION or SOURCE.prefix:*) missing, extra or typed
    so that A's values do not fit, against A; and the migration that aligns B.

    \b
    Exit codes: 0 no difference; 1 differences found; 2 configuration, usage or connection
    problems (an unknown source or table).
    """
    from dbplex.analyze import writing
    from dbplex.cli.main import emit_json, open_hub
    from dbplex.schema import run

    with reported(), open_hub(ctx) as hub:
        renamed = run.renames(rename_pairs)
        found = run.schema_diff(hub, a, b, sample, renamed)
        migration = run.proposal(hub, found)
        planned = []
        if directory is not None and migration is not None:
            planned = writing.plan(directory, {found.b.source: [migration]})
        written = writing.write(planned)
    kept = [p.existing for p in planned if p.existing is not None]
    fixes = [d for d in found.differences if d.kind != "extra"]
    if as_json:
        emit_json(
            {
                "a": found.a,
                "b": found.b,
                "differences": found.differences,
                "migration": migration,
                "written": [str(p) for p in written],
                "already_written": [str(p) for p in kept],
            }
        )
    else:
        for note in (*found.a.notes, *found.b.notes):
            click.echo(f"note: {note}")
        for difference in found.differences:
            click.echo(_line(difference, a, b))
        click.echo(f"{len(found.differences)} differences between {a} and {b}")
        if fixes and migration is None:
            click.echo(f"no migration: {b}'s backend keeps no schema to change")
        elif migration is not None and directory is None:
            click.echo(f"a .{migration.suffix} migration aligns {b} ({len(fixes)} fields): add --write-migration DIR")
        for path in written:
            click.echo(f"wrote {path}")
        for path in kept:
            click.echo(f"kept {path}: it already proposes this migration")
    sys.exit(0 if found.same else 1)
