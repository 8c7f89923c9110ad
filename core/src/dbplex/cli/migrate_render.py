"""Human-readable output of ``dbplex migrate`` (``--json`` bypasses this)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dbplex.cli.console import make_console
from dbplex.migrate.reports import Event, PlanReport, RunReport, StatusReport

_STATE_STYLE = {
    "applied": "green",
    "baselined": "green",
    "pending": "yellow",
    "outdated": "yellow",
    "rolled_back": "yellow",
    "running": "cyan",
    "reverting": "cyan",
    "revert_failed": "red",
    "failed": "red",
    "changed": "red",
    "missing": "red",
}


def status(report: StatusReport) -> None:
    console = make_console()
    if not report.sources:
        console.print(f"no migrations in {report.directory}")
    for source in report.sources:
        title = f"{source.source} ({source.backend})" + (f", baseline {source.baseline}" if source.baseline else "")
        table = Table("migration", "description", "kind", "state", "installed at", "by", "ms", "error", title=title)
        for m in source.migrations:
            style = _STATE_STYLE.get(m.state, "")
            table.add_row(
                f"V{m.version}" if m.version else m.ref.partition(":")[2],
                m.description,
                m.kind,
                f"[{style}]{m.state}[/]" if style else m.state,
                m.installed_at.strftime("%Y-%m-%d %H:%M:%S") if m.installed_at else "",
                m.installed_by or "",
                "" if m.duration_ms is None else str(m.duration_ms),
                escape(m.error or ""),
            )
        console.print(table)


def plan(report: PlanReport, dry_run: bool) -> None:
    console = make_console()
    if not report.steps:
        console.print("nothing to do")
        return
    if not dry_run:
        table = Table("#", "step", "file", "direction", "reason", "mode", "settings")
        for i, step in enumerate(report.steps, start=1):
            settings = " ".join(f"{k}={v}" for k, v in step.settings.items())
            table.add_row(str(i), step.ref, step.file, step.direction, step.reason, step.mode, settings)
        console.print(table)
        if any(step.atomic for step in report.steps):
            console.print("transaction: the step and its history row commit together, or neither does")
        return
    console.print("[bold]dry run: nothing is changed[/]")
    for source, lock in report.locks.items():
        console.print(f"lock {source}: {escape(lock)}")
    for i, step in enumerate(report.steps, start=1):
        settings = " ".join(f"{k}={v}" for k, v in step.settings.items())
        console.print(
            f"\n[bold][{i}] {step.ref} {step.direction}[/] {escape(step.file)} ({step.reason}; {_mode(step.mode, step.atomic)}{'; ' + settings if settings else ''})"
        )
        for note in step.notes:
            console.print(f"    [dim]note: {escape(note)}[/]")
        for command in step.commands:
            console.print("    " + escape(command).replace("\n", "\n    "), highlight=False)


def _mode(mode: str, atomic: bool) -> str:
    return f"{mode}, history in the same transaction" if atomic else mode


def run(report: RunReport, seconds: float, to: str | None = None) -> None:
    console = make_console()
    if not report.steps:
        if report.direction == "up":
            console.print(
                "nothing to do: every migration is applied" if to is None else f"nothing to do: {to} is applied"
            )
        else:
            where = "no versioned migration" if to is None else f"no migration above {to}"
            console.print(f"nothing to revert: {where} is applied")
        return
    verb = "applied" if report.direction == "up" else "reverted"
    console.print(
        f"{verb} {len(report.steps)} migration{'s' if len(report.steps) != 1 else ''} in {seconds:.1f} s (run {report.run_id[:8]})"
    )


@contextmanager
def progress() -> Iterator[Callable[[Event], None]]:
    """One line per finished step on stderr, and a progress bar there when it is a terminal."""
    console = make_console(stderr=True)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("migrating", total=None)

    def notify(event: Event) -> None:
        if event.kind == "step_start":
            bar.update(task, total=event.total, description=escape(f"{event.ref} {event.message}"))
        elif event.kind == "step_done":
            bar.advance(task)
            mark = "[green]ok[/]" if event.status != "failed" else "[red]failed[/]"
            took = f" {event.duration_ms} ms" if event.duration_ms is not None else ""
            console.print(f"{mark} {escape(event.ref or '')}{took} {escape(event.message)}".rstrip())
        else:
            style = "red" if event.kind in ("warning", "interrupted") else "dim"
            console.print(f"[{style}]{escape(event.ref or event.source)}: {escape(event.message)}[/]")

    if not console.is_terminal:
        yield notify
        return
    with bar:
        yield notify
