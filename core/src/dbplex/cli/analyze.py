"""``dbplex analyze``: findings with evidence and advice for each source, and the index migrations."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dbplex.cli.errors import reported

_LEVELS = ("info", "warning", "critical")


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--severity",
    type=click.Choice(_LEVELS),
    default="info",
    show_default=True,
    help="Show only findings at or above this severity.",
)
@click.option(
    "--fail-on",
    type=click.Choice(_LEVELS),
    help="Exit 1 when a finding at or above this severity is shown (for CI).",
)
@click.option(
    "--write-migrations",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write each proposed index as a migration in DIR/<source>/, numbered after the highest version there.",
)
@click.pass_context
def analyze(
    ctx: click.Context,
    sources: tuple[str, ...],
    as_json: bool,
    severity: str,
    fail_on: str | None,
    directory: Path | None,
) -> None:
    """Findings for each source (default: all) with evidence, severity and the action advised.

    \b
    Exit codes: 0 done; 1 a finding at or above --fail-on; 2 configuration, usage or
    connection problems (a source that could not be analysed).
    """
    import msgspec

    from dbplex.analyze import run, writing
    from dbplex.analyze.model import Severity
    from dbplex.cli.main import emit_json, open_hub

    floor = Severity(severity)
    with reported(), open_hub(ctx) as hub:
        analyses = run.analyze(hub, list(sources) or None)
        for analysis in analyses:
            analysis.findings = [f for f in analysis.findings if run.at_least(f.severity, floor)]
        planned = [] if directory is None else writing.plan(directory, writing.proposals(hub, analyses))
        written = writing.write(planned)
    skipped = [p for p in planned if p.existing is not None]
    if as_json:
        emit_json(
            {
                "sources": msgspec.to_builtins(analyses),
                "written": [str(p) for p in written],
                "already_written": [str(p.existing) for p in skipped],
            }
        )
    else:
        from dbplex.cli import render

        render.analysis(analyses)
        for path in written:
            click.echo(f"wrote {path}")
        for item in skipped:
            click.echo(f"kept {item.existing}: it already proposes this index")
    if any(a.status == "failed" for a in analyses):
        sys.exit(2)
    if fail_on is not None and any(run.at_least(f.severity, Severity(fail_on)) for a in analyses for f in a.findings):
        sys.exit(1)
