"""A prepared step as the plan shows it; in a dry run, with the exact commands.

A Python step's commands come from calling its ``up``/``down`` with a dry-run context: what it
sends through ``ctx.execute`` and the backend's helpers is recorded, not sent. Code that uses
the native connection directly stops the dry run of that step, and the plan says so.
"""

from __future__ import annotations

from dbplex.hub import Hub
from dbplex.migrate.backend import Migrator, Prepared
from dbplex.migrate.context import MigrationContext
from dbplex.migrate.errors import DryRunUnsupported
from dbplex.migrate.reports import PlannedStep
from dbplex.migrate.runner import describe_error


def python_commands(prepared: Prepared, migrator: Migrator, hub: Hub) -> list[str]:
    """What a Python step would send, recorded by running it against a dry-run context."""
    step = prepared.step
    migration = step.migration
    body = step.body
    if body is None or isinstance(body, str):
        return []
    ctx = MigrationContext(migration, migrator, hub, dry_run=True)
    try:
        body(ctx)
    except DryRunUnsupported as exc:
        return [*ctx.commands, f"-- then more Python: {str(exc).partition(': ')[2]}"]
    except Exception as exc:
        return [*ctx.commands, f"-- the dry run of {step.direction}(ctx) raised {describe_error(exc, migration)}"]
    return ctx.commands


def planned(prepared: Prepared, migrator: Migrator, hub: Hub, dry_run: bool) -> PlannedStep:
    step = prepared.step
    commands: list[str] = []
    if dry_run:
        body = prepared.commands if step.migration.format != "py" else python_commands(prepared, migrator, hub)
        commands = [*prepared.prologue, *body, *prepared.epilogue]
    return PlannedStep(
        ref=str(step.migration.ref),
        file=str(step.migration.path),
        direction=step.direction,
        reason=step.reason,
        mode=prepared.mode,
        atomic=prepared.atomic,
        settings=dict(prepared.settings),
        commands=commands,
        notes=list(prepared.notes),
    )
