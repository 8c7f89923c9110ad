"""Human-readable output of ``dbplex partition`` (``--json`` bypasses this)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from rich.markup import escape
from rich.table import Table

from dbplex.cli.console import make_console
from dbplex.partition.reports import PartitionInfo, PlanReport, RunReport, StatusReport

_STATE_STYLE = {
    "attached": "green",
    "missing": "yellow",
    "detaching": "cyan",
    "detached": "dim",
    "archived": "dim",
}
_RUN_STYLE = {"done": "green", "nothing": "green", "busy": "yellow", "failed": "red"}


def _title(report: PlanReport | StatusReport | RunReport) -> str:
    return f"{report.spec}: {report.source} {report.target} ({report.strategy} on {report.key})"


def _layout(report: PlanReport | StatusReport) -> str | None:
    """``layout collections: one collection per day: ...``, or None for a one-layout backend."""
    if report.layout is None:
        return None
    return f"layout {report.layout}: {report.layout_reason}" if report.layout_reason else f"layout {report.layout}"


def plans(reports: Sequence[PlanReport]) -> None:
    console = make_console()
    for report in reports:
        console.print(f"[bold]{escape(_title(report))}[/]")
        chosen = _layout(report)
        if chosen:
            console.print(f"  {escape(chosen)}", soft_wrap=True)
        if not report.actions:
            console.print("  nothing to do")
        for i, action in enumerate(report.actions, start=1):
            console.print(
                f"  [{i}] {action.kind} {escape(action.partition or report.target)}: {escape(action.reason)}",
                soft_wrap=True,
            )
            for command in action.commands:
                console.print("      " + escape(command).replace("\n", "\n      "), highlight=False, soft_wrap=True)
        for note in report.notes:
            console.print(f"  [yellow]note:[/] {escape(note)}")


def runs(reports: Sequence[RunReport]) -> None:
    """One line per spec (each action was already reported on stderr as it finished)."""
    console = make_console()
    for report in reports:
        style = _RUN_STYLE.get(report.status, "")
        counts = Counter(_DONE.get(a.kind, a.kind) for a in report.actions if a.status == "done")
        done = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        if report.status == "done":
            text = f"[{style}]done[/] ({escape(done)})"
        elif report.status == "nothing":
            text = f"[{style}]nothing to do[/]"
        elif report.status == "busy":
            text = f"[{style}]busy[/]: {escape(report.message)}"
        else:
            after = f" after {escape(done)}" if done else ""
            text = f"[{style}]failed[/]{after}: {escape(report.error or '')}"
        console.print(f"{escape(report.spec)}: {text}", soft_wrap=True)
        for note in report.notes:
            console.print(f"  [yellow]note:[/] {escape(note)}", soft_wrap=True)


_DONE = {"create": "created", "retire": "retired", "finalize": "finalized", "setup": "set up", "repair": "repaired"}


def _moment(value: object) -> str:
    """A bound for reading: ``2026-11-25`` at midnight UTC, else ``2026-11-25 13:30``."""
    if not isinstance(value, str):
        return str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.utcoffset() == timedelta(0):
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return f"{moment:%Y-%m-%d}"
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return value


def _range(info: PartitionInfo) -> str:
    if info.kind == "range":
        return f"{_moment(info.lower)} → {_moment(info.upper)}"
    if info.kind == "list":
        return ", ".join(map(str, info.values))
    if info.kind == "hash":
        return f"remainder {info.remainder} of {info.modulus}"
    return "rows no other partition takes"


def _rows(info: PartitionInfo) -> str:
    """``1,234`` for a count, ``~1,234`` for an estimate, empty when unknown."""
    if info.rows is None:
        return ""
    return f"~{info.rows:,}" if info.rows_estimated else f"{info.rows:,}"


def status(reports: Sequence[StatusReport]) -> None:
    console = make_console()
    for report in reports:
        table = Table("partition", "kind", "holds", "state", "rows", title=escape(_title(report)))
        for info in report.partitions:
            style = _STATE_STYLE.get(info.state, "")
            table.add_row(
                escape(info.name),
                info.kind,
                escape(_range(info)),
                f"[{style}]{info.state}[/]" if style else info.state,
                _rows(info),
            )
        console.print(table)
        chosen = _layout(report)
        if chosen:
            console.print(f"  {escape(chosen)}", soft_wrap=True)
        if report.problem:
            console.print(f"  [red]not ready:[/] {escape(report.problem)}")
        facts = []
        if report.interval:
            facts.append(f"interval {report.interval}, premake {report.premake}")
        if report.horizon is not None:
            facts.append(f"horizon {_moment(report.horizon)}")
        if report.retention:
            facts.append(f"retention {report.retention} ({report.retention_mode}), cutoff {_moment(report.cutoff)}")
        facts.append(f"missing {len(report.missing)}, expired {len(report.expired)}, pending actions {report.pending}")
        if report.misplaced:
            facts.append(f"[yellow]{report.misplaced} rows in the default partition belong elsewhere[/]")
        if report.outside:
            facts.append(f"{report.outside} rows the default holds outside every partition")
        console.print("  " + "; ".join(facts), soft_wrap=True)
        for key, value in report.details.items():
            console.print(f"  {escape(str(key))}: {escape(str(value))}")
        for note in report.notes:
            console.print(f"  [yellow]note:[/] {escape(note)}")
