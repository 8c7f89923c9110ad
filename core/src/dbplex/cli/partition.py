"""``dbplex partition``: plan, apply, maintain, status."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
import msgspec

from dbplex.cli.errors import fail, reported

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dbplex.hub import Hub
    from dbplex.partition import PartitionSpec


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time (e.g. 2026-11-25T00:00:00Z)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


_names = click.argument("names", nargs=-1, metavar="[NAME]...")
_spec = click.option(
    "--spec",
    "spec_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A TOML file of [partitions.NAME] tables (added to, and overriding, the configuration's).",
)
_now = click.option(
    "--now",
    callback=_parse_now,
    metavar="ISO",
    help="Plan as if it were this moment (UTC unless it says otherwise); default: the clock.",
)
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _common(command: F) -> F:
    """The options every command takes: NAME..., --spec, --now, --json (in that order)."""
    for option in (_json, _now, _spec, _names):
        command = option(command)
    return command


def _lock_wait(default: float) -> Callable[[F], F]:
    return click.option(
        "--lock-wait",
        type=click.FloatRange(min=0),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help="How long to wait for another run's maintenance lock.",
    )


@click.group()
def partition() -> None:
    """Partitioned tables, collections and key families: create ahead, retire past retention.

    \b
    Specs come from the configuration's [partitions.NAME] tables and --spec FILE; NAME
    arguments pick some of them (default: all).
    Exit codes: 0 done (also: maintain found another host maintaining); 1 an action failed,
    or apply could not take the lock; 2 problems in specs, configuration or connection.
    """


def select_specs(hub: Hub, spec_file: Path | None, names: tuple[str, ...]) -> list[PartitionSpec]:
    """The specs a command acts on: the configuration's and the file's, filtered by ``names``."""
    from dbplex.config import load_partitions
    from dbplex.errors import ConfigError

    specs = dict(hub.config.partitions)
    if spec_file is not None:
        specs.update(load_partitions(spec_file, dict(hub.config.sources)))
    if not specs:
        raise ConfigError("no partition specs: add [partitions.NAME] tables to the configuration or pass --spec FILE")
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ConfigError(f"unknown partition spec {', '.join(map(repr, unknown))} (known: {', '.join(sorted(specs))})")
    return [specs[n] for n in (names or tuple(specs))]


@contextmanager
def _session(
    ctx: click.Context, spec_file: Path | None, names: tuple[str, ...]
) -> Iterator[tuple[Hub, list[PartitionSpec]]]:
    import dbplex

    with reported(), dbplex.open(ctx.obj.config_path) as hub:
        yield hub, select_specs(hub, spec_file, names)


def _emit(data: Any) -> None:
    from dbplex.cli.main import emit_json

    emit_json(msgspec.to_builtins(data))


def _output(
    as_json: bool, data: dict[str, Any], render: Literal["plans", "runs", "status"], reports: Sequence[Any]
) -> None:
    """``data`` as JSON with --json; else ``reports`` as ``partition_render.<render>`` shows them."""
    if as_json:
        _emit(data)
    else:
        from dbplex.cli import partition_render

        getattr(partition_render, render)(reports)


@partition.command()
@_common
@click.pass_context
def plan(
    ctx: click.Context, names: tuple[str, ...], spec_file: Path | None, now: datetime | None, as_json: bool
) -> None:
    """What apply would do now, with the exact commands. Changes nothing."""
    from dbplex.partition.errors import PlanError
    from dbplex.partition.maintain import make_plan, plan_report

    reports: list[Any] = []
    errors: list[str] = []
    with _session(ctx, spec_file, names) as (hub, specs):
        for spec in specs:
            try:
                reports.append(plan_report(make_plan(hub.partitioner(spec.source), spec, now)))
            except PlanError as exc:
                errors.append(str(exc))
    _output(as_json, {"plans": reports, "errors": errors}, "plans", reports)
    _finish(errors, 2)


def _finish(errors: list[str], code: int) -> None:
    if errors:
        for error in errors[:-1]:
            click.echo(f"Error: {error}", err=True)
        fail(errors[-1], code)


def _progress(spec: str, message: str) -> None:
    click.echo(f"{spec}: {message}", err=True)


def _run_command(mode: Literal["apply", "maintain"], default_wait: float, doc: str) -> click.Command:
    """Register ``dbplex partition <mode>``: the common options and --lock-wait (default ``default_wait`` s)."""

    @_common
    @_lock_wait(default_wait)
    @click.pass_context
    def command(
        ctx: click.Context,
        names: tuple[str, ...],
        spec_file: Path | None,
        now: datetime | None,
        as_json: bool,
        lock_wait: float,
    ) -> None:
        from dbplex.migrate.locking import LockSettings
        from dbplex.partition import maintain

        settings = LockSettings(wait=lock_wait, ttl=maintain.APPLY_LOCK.ttl)
        reports = []
        code = 0
        notify = None if as_json else _progress
        with _session(ctx, spec_file, names) as (hub, specs):
            for spec in specs:
                try:
                    partitioner = hub.partitioner(spec.source)
                except Exception as exc:
                    from dbplex.partition.reports import RunReport, header

                    report = RunReport(**header(spec), mode=mode, run_id="", status="failed")
                    report.error = maintain.describe_error(exc)
                    report.exit_code = getattr(exc, "exit_code", 1)
                else:
                    report = maintain.run(partitioner, spec, mode, now=now, settings=settings, notify=notify)
                reports.append(report)
                code = max(code, report.exit_code)
        _output(as_json, {"runs": reports}, "runs", reports)
        if code:
            errors = [r.error or r.message for r in reports if r.exit_code]
            _finish(errors, code)

    command.__doc__ = doc
    return partition.command(mode)(command)


apply = _run_command(
    "apply",
    60.0,
    """Create missing partitions, finish interrupted work and retire expired ones, under the lock.""",
)
maintain = _run_command(
    "maintain",
    5.0,
    """Like apply, for cron: safe every minute on several hosts at once.

    A run that finds the lock held past --lock-wait says "another host is maintaining" and
    exits 0; the holder does the work, and every action is idempotent.
    """,
)


@partition.command()
@_common
@click.pass_context
def status(
    ctx: click.Context, names: tuple[str, ...], spec_file: Path | None, now: datetime | None, as_json: bool
) -> None:
    """Every partition with its state and rows; what is missing, expired or misplaced.

    Exit code 1 when a spec is not ready (its target is missing or not partitioned as it says).
    """
    from dbplex.partition.maintain import status as spec_status

    with _session(ctx, spec_file, names) as (hub, specs):
        reports = [spec_status(hub.partitioner(spec.source), spec, now) for spec in specs]
    _output(as_json, {"specs": reports}, "status", reports)
    sys.exit(0 if all(r.ready for r in reports) else 1)
