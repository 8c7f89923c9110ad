"""Human-readable output of the read commands (``--json`` bypasses this)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dbplex.cli.console import make_console
from dbplex.health import Health, Report, Status

_STYLE = {Status.UP: "green", Status.DEGRADED: "yellow", Status.DOWN: "red", Status.UNKNOWN: "dim"}


def plugins(data: dict[str, Any]) -> None:
    table = Table("plugin", "package", "version", "backend", "schemes", "modes", "capabilities")
    for plugin in data["plugins"]:
        for backend in plugin["backends"] or [{"name": "-", "schemes": [], "modes": [], "capabilities": []}]:
            table.add_row(
                plugin["name"],
                plugin["package"],
                plugin["version"] or "",
                backend["name"],
                ", ".join(backend["schemes"]),
                ", ".join(backend["modes"]),
                ", ".join(backend["capabilities"]),
            )
    console = make_console()
    console.print(table)
    for error in data["load_errors"]:
        console.print(f"[red]failed to load[/red] {error['name']} ({error['package']}): {error['error']}")


def _health_row(check: Health, name: str, required: str) -> list[str]:
    pool = f"{check.pool.used}/{check.pool.size}/{check.pool.max}" if check.pool else ""
    lag = f"{check.lag_seconds:.1f}s" if check.lag_seconds is not None else ""
    return [
        name,
        check.backend,
        f"[{_STYLE[check.status]}]{check.status.value}[/]",
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
    verdict = "ready" if report.ready else "NOT ready"
    console.print(f"overall: [{_STYLE[report.status]}]{report.status.value}[/] ({verdict})")
