"""``dbplex health --watch``: the health checks again every interval, as a live view.

On a terminal the view is redrawn in place (rich's Live); into a pipe or a file each refresh is
printed as a plain block of its own, with no control codes. Ctrl-C ends it with exit code 0.

Rates are per second over the last interval: the client's operations and errors come from the
hub's metrics (``[metrics] enabled``), which count the operations of this process's hub only;
the server's operations come from its own counters (:class:`dbplex.health.Resources`), so they
count every client's, the health checks' own included.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table

from dbplex.cli.console import make_console
from dbplex.cli.render import STYLE, hit_ratio
from dbplex.health import Health, Report
from dbplex.hub import Hub

#: one endpoint's counters at one refresh: client operations, client errors, server operations.
Counts = tuple[int, int, int | None]
#: one endpoint's rates per second, in the same order; None where not known (yet).
PerSecond = tuple[float | None, float | None, float | None]


class Rates:
    """Per-second rates from one refresh to the next, by pool name."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._at = 0.0
        self._before: dict[str, Counts] = {}

    def update(self, checks: list[Health]) -> dict[str, PerSecond]:
        """Client ops/s, client errors/s and server ops/s of each endpoint (None: not known yet, or not counted)."""
        now = time.monotonic()
        client: dict[str, list[int]] = {}
        if self._hub.metrics is not None:
            for series in self._hub.metrics.series():
                counts = client.setdefault(series.attributes.pool, [0, 0])
                counts[0] += series.count
                counts[1] += series.count if series.error_type is not None else 0
        current: dict[str, Counts] = {}
        for check in checks:
            ops, errors = client.get(check.source, (0, 0))
            server = (
                sum(check.resources.operations.values()) if check.resources and check.resources.operations else None
            )
            current[check.source] = (ops, errors, server)
        elapsed = now - self._at
        rates: dict[str, PerSecond] = {}
        for name, (ops, errors, server) in current.items():
            before = self._before.get(name)
            if before is None:
                rates[name] = (None, None, None)
                continue
            was = before[2]
            server_rate = None  # unknown, or the counters went back: the server restarted
            if server is not None and was is not None and server >= was:
                server_rate = (server - was) / elapsed
            rates[name] = ((ops - before[0]) / elapsed, (errors - before[1]) / elapsed, server_rate)
        self._at, self._before = now, current
        return rates


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def view(report: Report, rates: dict[str, PerSecond], metrics: bool) -> Table:
    """One refresh: a row per endpoint."""
    table = Table(
        "source",
        "status",
        "latency ms",
        "pool in use/idle/max/pending",
        "lag",
        "ops/s",
        "errors/s",
        "server ops/s",
        "cache hit",
        "error",
    )
    for check in report.sources:
        for endpoint, name in ((check, check.source), *((r, f"  {r.source}") for r in check.replicas)):
            pool = endpoint.pool
            client_ops, client_errors, server_ops = rates.get(endpoint.source, (None, None, None))
            table.add_row(
                name,
                f"[{STYLE[endpoint.status]}]{endpoint.status.value}[/]",
                "" if endpoint.latency_ms is None else f"{endpoint.latency_ms:.1f}",
                f"{pool.used}/{pool.idle}/{pool.max}/{pool.pending}" if pool else "",
                "" if endpoint.lag_seconds is None else f"{endpoint.lag_seconds:.1f}s",
                _rate(client_ops) if metrics else "metrics off",
                _rate(client_errors) if metrics else "metrics off",
                _rate(server_ops),
                hit_ratio(endpoint.resources) if endpoint.resources else "",
                endpoint.error or "",
            )
    return table


def watch(hub: Hub, sources: list[str] | None, interval: float, count: int | None) -> Report | None:
    """Refresh every ``interval`` seconds, ``count`` times (None: until Ctrl-C); the last report,
    or None when interrupted."""
    console = make_console()
    rates = Rates(hub)
    metrics = hub.metrics is not None

    def frame() -> tuple[Report, RenderableType]:
        report = hub.health(sources)
        checks = [c for check in report.sources for c in (check, *check.replicas)]
        stamp = datetime.now().strftime("%H:%M:%S")
        footer = f"{stamp} · overall {report.status.value} · every {interval:g}s · Ctrl-C to stop"
        return report, Group(view(report, rates.update(checks), metrics), footer)

    shown = 0
    report: Report | None = None
    try:
        if console.is_terminal:
            with Live(console=console, auto_refresh=False) as live:
                while count is None or shown < count:
                    if shown:
                        time.sleep(interval)
                    report, renderable = frame()
                    live.update(renderable, refresh=True)
                    shown += 1
        else:
            while count is None or shown < count:
                if shown:
                    time.sleep(interval)
                report, renderable = frame()
                console.print(renderable)
                console.print()
                shown += 1
    except KeyboardInterrupt:
        return None
    return report
