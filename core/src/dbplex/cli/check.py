"""What ``dbplex check`` does: run data-quality rules, references and mirrors; exit 1 when one fails.

Imported when the command runs, so ``dbplex --help`` imports none of it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from dbplex.cli.errors import reported

if TYPE_CHECKING:
    from dbplex.check.report import CheckResult


def _line(result: CheckResult) -> str:
    """One line per rule: verdict, name, kind and what was found."""
    head = f"{result.status.upper():4}  {result.name} ({result.kind})"
    reads = ", ".join(f"{place} {rows}" for place, rows in result.reads.items())
    if result.kind == "mirror":
        parts = [
            f"{label} {found.count}" + (f" [{', '.join(map(str, found.sample))}]" if found.sample else "")
            for label, found in (("missing", result.missing), ("extra", result.extra), ("different", result.different))
        ]
        detail = f"{'; '.join(parts)}; by {result.method}"
    elif result.kind in ("freshness", "row_count"):
        detail = f"{'newest' if result.kind == 'freshness' else 'rows'} {result.value}"
    else:
        shown = [f"{v['key']}->{v['value']}" if isinstance(v, dict) else str(v) for v in result.violations.sample]
        noun = "orphans" if result.kind == "reference" else "rows"
        detail = f"{result.violations.count} {noun}" + (f" [{', '.join(shown)}]" if shown else "")
    return f"{head}: {detail} (rows read: {reads})"


def run(ctx: click.Context, names: tuple[str, ...], checks_file: str | None, sample: int, as_json: bool) -> None:
    """The configuration's rules and ``checks_file``'s (the ``names`` ones, or all), reported."""
    from dbplex import config as config_mod
    from dbplex.check import engine
    from dbplex.cli.main import emit_json, open_hub
    from dbplex.errors import ConfigError

    with reported(), open_hub(ctx) as hub:
        rules = dict(hub.config.checks)
        if checks_file is not None:
            for name, rule in config_mod.load_checks(checks_file, hub.config.sources).items():
                if name in rules:
                    raise ConfigError(f"{checks_file}: check {name!r} is also in {hub.config.path}; rename one")
                rules[name] = rule
        if not rules:
            raise ConfigError(
                "no checks configured: add [checks.NAME] tables to the configuration or pass --checks FILE"
            )
        report = engine.run(hub, engine.select(rules, names), sample)
    if as_json:
        emit_json(report)
    else:
        for result in report.checks:
            click.echo(_line(result))
        failed = sum(r.status == "fail" for r in report.checks)
        click.echo(f"{len(report.checks) - failed} passed, {failed} failed")
    sys.exit(0 if report.ok else 1)
