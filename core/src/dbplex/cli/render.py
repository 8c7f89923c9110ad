"""Human-readable output of the read commands (``--json`` bypasses this)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.markup import escape
from rich.table import Table

from dbplex.analyze.model import Severity
from dbplex.analyze.run import SourceAnalysis
from dbplex.cli.console import make_console
from dbplex.health import Health, Report, Resources, Status
from dbplex.secrets import scrub
from dbplex.slowlog.model import SlowReport

_SEVERITY_STYLE = {Severity.INFO: "dim", Severity.WARNING: "yellow", Severity.CRITICAL: "red"}
STYLE = {Status.UP: "green", Status.DEGRADED: "yellow", Status.DOWN: "red", Status.UNKNOWN: "dim"}


def plugins(data: dict[str, Any]) -> None:
    table = Table("plugin", "package", "version", "backend", "schemes", "capabilities")
    for plugin in data["plugins"]:
        for backend in plugin["backends"] or [{"name": "-", "schemes": [], "capabilities": []}]:
            table.add_row(
                plugin["name"],
                plugin["package"],
                plugin["version"] or "",
                backend["name"],
                ", ".join(backend["schemes"]),
                ", ".join(backend["capabilities"]),
            )
    console = make_console()
    console.print(table)
    for error in data["load_errors"]:
        console.print(f"[red]failed to load[/red] {error['name']} ({error['package']}): {error['error']}")


def size(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1 (``7.4 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def hit_ratio(resources: Resources) -> str:
    ratio = resources.hit_ratio
    return f"{ratio:.1%}" if ratio is not None else ""


def _server_row(check: Health, name: str) -> list[str] | None:
    r = check.resources
    if r is None:
        return None
    states = ", ".join(f"{state} {n}" for state, n in sorted(r.connections_by_state.items()))
    return [
        name,
        "" if r.connections is None else str(r.connections),
        states,
        "" if r.connections_max is None else str(r.connections_max),
        "" if r.database_bytes is None else size(r.database_bytes),
        "" if r.memory_bytes is None else size(r.memory_bytes),
        hit_ratio(r),
        ", ".join(f"{replica} {lag:.1f}s" for replica, lag in sorted(r.replica_lag_seconds.items())),
    ]


def server_table(checks: list[Health]) -> Table | None:
    """The main figures of each server's resources (``--json`` has them all); None when none has any."""
    table = Table("source", "connections", "by state", "max", "database", "memory", "cache hit", "replicas' lag")
    rows = [
        row
        for check in checks
        for row in (_server_row(check, check.source), *(_server_row(r, f"  {r.source}") for r in check.replicas))
        if row is not None
    ]
    for row in rows:
        table.add_row(*row)
    return table if rows else None


def _health_row(check: Health, name: str, required: str) -> list[str]:
    pool = f"{check.pool.used}/{check.pool.size}/{check.pool.max}" if check.pool else ""
    lag = f"{check.lag_seconds:.1f}s" if check.lag_seconds is not None else ""
    return [
        name,
        check.backend,
        f"[{STYLE[check.status]}]{check.status.value}[/]",
        required,
        f"{check.latency_ms:.1f}" if check.latency_ms is not None else "",
        f"{check.connect_ms:.1f}" if check.connect_ms is not None else "",
        check.server_version or "",
        pool,
        lag,
        check.breaker or "",
        check.error or "",
    ]


def health(report: Report) -> None:
    table = Table(
        "source",
        "backend",
        "status",
        "required",
        "latency ms",
        "connect ms",
        "version",
        "pool used/size/max",
        "lag",
        "breaker",
        "error",
    )
    for check in report.sources:
        table.add_row(*_health_row(check, check.source, "yes" if check.required else "no"))
        for replica in check.replicas:
            table.add_row(*_health_row(replica, f"  {replica.source}", ""))
    console = make_console()
    console.print(table)
    servers = server_table(report.sources)
    if servers is not None:
        console.print(servers)
    verdict = "ready" if report.ready else "NOT ready"
    console.print(f"overall: [{STYLE[report.status]}]{report.status.value}[/] ({verdict})")


def _evidence(evidence: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in evidence.items())


def analysis(analyses: list[SourceAnalysis]) -> None:
    """A line per source, then a table of its findings."""
    console = make_console()
    for result in analyses:
        head = f"{result.source} ({result.backend}):"
        if result.status == "failed":
            console.print(f"{head} [red]failed[/red]: {escape(result.error or '')}")
            continue
        note = "no analyzer" if result.status == "no analyzer" else ""
        if not result.findings:
            console.print(f"{head} {note or 'no findings'}", markup=False)
            continue
        console.print(f"{head} {note + ', ' if note else ''}{len(result.findings)} finding(s)", markup=False)
        table = Table("severity", "code", "subject", "summary", "evidence", "action")
        for f in result.findings:
            table.add_row(
                f"[{_SEVERITY_STYLE[f.severity]}]{f.severity.value}[/]",
                escape(f.code),
                escape(f.subject),
                escape(f.summary),
                escape(_evidence(f.evidence)),
                escape(f.action),
            )
        console.print(table)


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def slowlog(report: SlowReport) -> None:
    table = Table("source", "origin", "ms", "calls", "when (UTC)", "operation")
    for entry in report.entries:
        table.add_row(
            entry.source,
            entry.origin,
            f"{entry.duration_ms:.1f}" if entry.duration_ms >= 1 else f"{entry.duration_ms:.3f}",
            "" if entry.calls is None else str(entry.calls),
            _when(entry.at),
            escape(scrub(entry.operation)),
        )
    console = make_console()
    console.print(table)
    for note in report.notes:
        style = "red" if note.level == "error" else "dim"
        console.print(f"[{style}]{note.source}: {escape(scrub(note.message))}[/]")
