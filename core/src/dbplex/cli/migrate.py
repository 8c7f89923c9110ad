"""``dbplex migrate``: status, plan, up, down, validate, baseline, repair."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
import msgspec

from dbplex.cli.errors import fail, reported

if TYPE_CHECKING:
    from dbplex.migrate import Event, Migrations

F = TypeVar("F", bound=Callable[..., Any])
Direction = Literal["up", "down"]


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


_common = _options(
    click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        help="Migrations directory, one folder per source (default: the config's `migrations` key, else migrations/ beside the config file).",
    ),
    click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="NAME",
        help="Only this source (repeatable). Default: every source with a folder.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
)
_locking = _options(
    click.option(
        "--lock-wait",
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        help="How long to wait for another run's lock (default: [migration_lock] wait, 60).",
    ),
    click.option(
        "--lock-ttl",
        type=click.FloatRange(min=1),
        metavar="SECONDS",
        help="How long a lease (MongoDB, Redis) outlives a run that died (default: [migration_lock] ttl, 15).",
    ),
)
_to = click.option("--to", "to", metavar="VERSION", help="Target version, e.g. V0003 or pg:V0003.")
_dry_run = click.option(
    "--dry-run", is_flag=True, help="Print the exact commands, transaction modes and locks; change nothing."
)


@contextmanager
def _migrations(
    ctx: click.Context,
    directory: Path | None,
    sources: tuple[str, ...],
    *,
    lock_wait: float | None = None,
    lock_ttl: float | None = None,
    notify: Callable[[Event], None] | None = None,
) -> Iterator[Migrations]:
    import dbplex
    from dbplex.migrate import LockSettings, Migrations, default_directory

    with dbplex.open(ctx.obj.config_path) as hub:
        where = directory or default_directory(hub.config.path, hub.config.migrations)
        configured = hub.config.migration_lock
        settings = LockSettings(
            wait=configured.wait if lock_wait is None else lock_wait,
            ttl=configured.ttl if lock_ttl is None else lock_ttl,
        )
        with Migrations(hub, where, sources=list(sources) or None, lock=settings, notify=notify) as migrations:
            yield migrations


def _emit(data: Any) -> None:
    from dbplex.cli.main import emit_json

    emit_json(msgspec.to_builtins(data))


@click.group()
def migrate() -> None:
    """Versioned and repeatable migrations for every source, with one history format and locks.

    \b
    Files: <dir>/<source>/V<version>__<description>.<sql|py> and R__<description>.<sql|py>.
    Exit codes: 0 done; 1 a step failed, or a lock was not taken or was lost;
    2 problems in files, history, configuration or connection.
    """


@migrate.command()
@_common
@click.pass_context
def status(ctx: click.Context, directory: Path | None, sources: tuple[str, ...], as_json: bool) -> None:
    """Every migration with its state: applied, pending, failed, changed, missing..."""
    with reported(), _migrations(ctx, directory, sources) as migrations:
        report = migrations.status()
    if as_json:
        _emit(report)
        return
    from dbplex.cli import migrate_render

    migrate_render.status(report)


def _plan(
    ctx: click.Context,
    direction: Direction,
    directory: Path | None,
    sources: tuple[str, ...],
    as_json: bool,
    to: str | None,
    dry_run: bool,
) -> None:
    with reported(), _migrations(ctx, directory, sources) as migrations:
        report = migrations.plan(direction, to, dry_run=dry_run)
    if as_json:
        _emit(report)
        return
    from dbplex.cli import migrate_render

    migrate_render.plan(report, dry_run)


@migrate.command()
@_common
@_to
@click.option("--dry-run", is_flag=True, help="Also show the exact commands, transaction modes and locks.")
@click.pass_context
def plan(
    ctx: click.Context, directory: Path | None, sources: tuple[str, ...], as_json: bool, to: str | None, dry_run: bool
) -> None:
    """What `up` would apply, in order, and how. Changes nothing."""
    _plan(ctx, "up", directory, sources, as_json, to, dry_run)


def _run(
    ctx: click.Context,
    direction: Direction,
    directory: Path | None,
    sources: tuple[str, ...],
    as_json: bool,
    to: str | None,
    dry_run: bool,
    lock_wait: float | None,
    lock_ttl: float | None,
) -> None:
    """``up`` or ``down``: run the steps, or with ``--dry-run`` only plan them."""
    if dry_run:
        _plan(ctx, direction, directory, sources, as_json, to, True)
        return
    from dbplex.cli import migrate_render
    from dbplex.migrate import MigrationFailed

    started = time.monotonic()
    with ExitStack() as stack:
        notify = None if as_json else stack.enter_context(migrate_render.progress())
        with (
            reported(),
            _migrations(ctx, directory, sources, lock_wait=lock_wait, lock_ttl=lock_ttl, notify=notify) as migrations,
        ):
            try:
                report = migrations.up(to) if direction == "up" else migrations.down(to)
            except MigrationFailed as exc:
                stack.close()
                if as_json and exc.report is not None:
                    _emit(exc.report)
                fail(str(exc), exc.exit_code)
    if as_json:
        _emit(report)
        return
    migrate_render.run(report, time.monotonic() - started, to)


def _applying(
    direction: Direction, to: Callable[[Callable[..., None]], Callable[..., None]], doc: str
) -> click.Command:
    """The ``up`` or ``down`` command: the same options (but for what ``--to`` means), one runner."""

    def command(ctx: click.Context, /, **options: Any) -> None:
        _run(ctx, direction, **options)

    command.__doc__ = doc
    return migrate.command(direction)(_common(to(_dry_run(_locking(click.pass_context(command))))))


up = _applying("up", _to, "Apply pending migrations (after validating the history).")
down = _applying(
    "down",
    click.option(
        "--to",
        "to",
        metavar="VERSION",
        help="Revert every migration above this version (V0: all). Default: only the latest.",
    ),
    "Revert migrations with their down part, latest first.",
)


@migrate.command()
@_common
@click.pass_context
def validate(ctx: click.Context, directory: Path | None, sources: tuple[str, ...], as_json: bool) -> None:
    """Check files and history: names, dependencies, checksums of applied files, two heads."""
    from dbplex.migrate import ValidationError

    with reported(), _migrations(ctx, directory, sources) as migrations:
        problems = migrations.validate()
        count = len(migrations.discovered().all())
    if as_json:
        _emit({"ok": not problems, "problems": problems, "migrations": count})
        sys.exit(ValidationError.exit_code if problems else 0)
    if problems:
        fail(str(ValidationError(problems)), ValidationError.exit_code)
    click.echo(f"ok: {count} migration files match their history")


@migrate.command()
@_common
@click.argument("version")
@_locking
@click.pass_context
def baseline(
    ctx: click.Context,
    directory: Path | None,
    sources: tuple[str, ...],
    as_json: bool,
    version: str,
    lock_wait: float | None,
    lock_ttl: float | None,
) -> None:
    """Mark versions up to VERSION as applied, for a database that already has that schema."""
    with reported(), _migrations(ctx, directory, sources, lock_wait=lock_wait, lock_ttl=lock_ttl) as migrations:
        report = migrations.baseline(version)
    _changes(report, as_json)


@migrate.command()
@_common
@click.option(
    "--accept-checksum",
    "accept",
    multiple=True,
    metavar="VERSION",
    help="Record the current checksum of this edited, applied file (repeatable).",
)
@_locking
@click.pass_context
def repair(
    ctx: click.Context,
    directory: Path | None,
    sources: tuple[str, ...],
    as_json: bool,
    accept: tuple[str, ...],
    lock_wait: float | None,
    lock_ttl: float | None,
) -> None:
    """Mark rows of runs that died as failed, and accept deliberate edits of applied files."""
    with reported(), _migrations(ctx, directory, sources, lock_wait=lock_wait, lock_ttl=lock_ttl) as migrations:
        report = migrations.repair(list(accept))
    _changes(report, as_json)


def _changes(report: Any, as_json: bool) -> None:
    if as_json:
        _emit(report)
        return
    for line in report.changes or ["nothing to record"]:
        click.echo(line)
