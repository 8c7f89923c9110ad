"""What ``dbplex sync`` does: copy a table into a table of records elsewhere, resumably, then
check the mirror; exit 1 when the copy still differs. With ``--follow``, keep applying the
source's changes after the copy until Ctrl-C or SIGTERM (exit 0), ``--count`` or ``--timeout``.

Imported when the command runs, so ``dbplex --help`` imports none of it."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import click

from dbplex.cli.errors import fail, reported

if TYPE_CHECKING:
    from dbplex.sync.engine import FollowReport, Progress, Sync, SyncReport


class _Stopped(Exception):
    """Ctrl-C or SIGTERM during the copy of ``--follow``: its checkpoint is stored, a rerun resumes."""


def run(
    ctx: click.Context,
    source: str,
    target: str,
    map_file: str | None,
    since: str | None,
    delete: bool,
    batch: int,
    as_json: bool,
    follow: bool = False,
    count: int | None = None,
    timeout: float | None = None,
    watermark: str | None = None,
) -> None:
    """Sync ``source`` into ``target`` and report (see :mod:`dbplex.sync.engine`); without
    ``map_file``, every field of the source."""
    from dbplex.cli.check import _line
    from dbplex.cli.main import emit_json, open_hub
    from dbplex.sync import mapping
    from dbplex.sync.engine import Sync

    if not follow and (count is not None or timeout is not None):
        fail("--count and --timeout end --follow: add --follow")
    with reported():
        sync_map = None if map_file is None else mapping.load(map_file)
        with open_hub(ctx) as hub, ExitStack() as stack:
            sync = Sync(hub, source, target, sync_map, since, watermark=watermark)
            progress = None
            if not as_json:
                progress = stack.enter_context(_bar(sync))
            if follow:
                _follow(sync, batch, delete, progress, count, timeout, as_json)
                return
            report = sync.run(batch=batch, delete=delete, progress=progress)
    if as_json:
        emit_json(report)
    else:
        click.echo(_synced(report, since is not None, delete))
        if report.mirror is not None:
            click.echo(_line(report.mirror))
    sys.exit(0 if report.ok else 1)


def _synced(report: SyncReport, since: bool, delete: bool) -> str:
    resumed = f", resumed after key {report.resumed_after}" if report.resumed else ""
    since_note = f", {report.skipped} older than --since skipped" if since else ""
    deleted = f", {report.deleted} deleted" if delete else ""
    return (
        f"synced {report.source} -> {report.target}: read {report.read}, written {report.written}"
        f"{since_note}{deleted}{resumed} (run {report.run_id})"
    )


def _follow(
    sync: Sync,
    batch: int,
    delete: bool,
    progress: Progress | None,
    count: int | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Copy and follow until a bound or a signal; a signal during the copy stops it at its next batch."""
    from dbplex.cli.main import emit_json

    stop = threading.Event()

    def copied(done: int) -> None:
        if progress is not None:
            progress(done)
        if stop.is_set():
            raise _Stopped

    def stopping(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = sync.follow(batch, delete, copied, count=count, timeout=timeout, stop=stop)
    except _Stopped:
        click.echo(f"stopped during the copy of {sync.src} -> {sync.dst}; run it again to resume")
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        emit_json(report)
    else:
        click.echo(_followed(report, sync.since is not None, delete))


def _followed(report: FollowReport, since: bool, delete: bool) -> str:
    copied = f"{_synced(report.copy, since, delete)}; then " if report.copy is not None else ""
    return (
        f"{copied}followed {report.source} -> {report.target} after {report.started_after}: "
        f"{report.changes} changes, {report.written} written, {report.deleted} deleted, "
        f"{report.skipped} skipped; stored position {report.position}"
    )


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
