"""Prometheus exposition of a hub's metrics (the ``dbplex[prometheus]`` extra).

The names are the semantic conventions' in Prometheus form: dots become underscores and a
duration gets its unit (``db.client.operation.duration`` is ``db_client_operation_duration_seconds``).
The collector reads the hub when scraped, so a scrape costs the operations nothing. The pool's
wait, use and create times are histograms (``PoolStats.wait.buckets`` and the others); the
servers' resources (``dbplex_server_*``) come from health checks, read at most once per
``[metrics] resources_interval`` (see :mod:`dbplex.metrics.server`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest, make_asgi_app, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from dbplex.errors import ConfigError
from dbplex.metrics import server
from dbplex.metrics.recorder import BUCKETS, Attributes
from dbplex.pool import BUCKET_BOUNDS_MS, Timing

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub
    from dbplex.hub import Hub

POOL_LABELS = ["db_client_connection_pool_name", "db_system_name", "db_namespace"]
OPERATION_LABELS = [*POOL_LABELS, "db_operation_name", "error_type"]


def _labels(attrs: Attributes) -> list[str]:
    return [attrs.pool, attrs.system, attrs.namespace]


def _histogram(counts: list[int], bounds: Iterable[float]) -> list[tuple[str, float]]:
    """Per-bucket counts (the last one past every bound) as Prometheus's cumulative buckets."""
    cumulative, buckets = 0, []
    for bound, count in zip([*map(str, bounds), "+Inf"], counts, strict=True):
        cumulative += count
        buckets.append((bound, float(cumulative)))
    return buckets


def _timing(family: HistogramMetricFamily, labels: list[str], timing: Timing) -> None:
    family.add_metric(labels, _histogram(timing.buckets, (b / 1000 for b in BUCKET_BOUNDS_MS)), timing.total_ms / 1000)


class HubCollector(Collector):
    """Every metric of one hub, read when Prometheus scrapes."""

    def __init__(self, hub: Hub | AsyncHub) -> None:
        if hub.metrics is None:
            raise ConfigError("metrics are off: set `[metrics] enabled = true` in the configuration")
        self.hub = hub
        self.metrics = hub.metrics

    def collect(self) -> Iterator[Metric]:
        servers = list(self._servers())  # first: the pool figures then include the health checks' checkouts
        yield self._operations()
        yield from self._pools()
        yield from self._cache()
        yield from servers

    def _operations(self) -> Metric:
        family = HistogramMetricFamily(
            "db_client_operation_duration_seconds", "Duration of database client operations.", labels=OPERATION_LABELS
        )
        for series in self.metrics.series():
            labels = [*_labels(series.attributes), series.operation, series.error_type or ""]
            family.add_metric(labels, _histogram(series.buckets, BUCKETS), series.sum)
        return family

    def _pools(self) -> Iterable[Metric]:
        count = GaugeMetricFamily(
            "db_client_connection_count",
            "Connections of the pool by state.",
            labels=[*POOL_LABELS, "db_client_connection_state"],
        )
        pending = GaugeMetricFamily(
            "db_client_connection_pending_requests", "Callers waiting for a connection.", labels=POOL_LABELS
        )
        most = GaugeMetricFamily("db_client_connection_max", "The most connections the pool opens.", labels=POOL_LABELS)
        least = GaugeMetricFamily(
            "db_client_connection_idle_min", "The connections the pool keeps open.", labels=POOL_LABELS
        )
        timeouts = CounterMetricFamily(
            "db_client_connection_timeouts", "Checkouts that gave up waiting for a connection.", labels=POOL_LABELS
        )
        times = {
            name: HistogramMetricFamily(f"db_client_connection_{name}_time_seconds", doc, labels=POOL_LABELS)
            for name, doc in (
                ("wait", "Time to obtain a connection from the pool."),
                ("use", "Time between borrowing a connection and returning it."),
                ("create", "Time to open a new connection."),
            )
        }
        for name, stats in self.hub.pool_stats().items():
            attrs = self.metrics.pool_attributes(name)
            if attrs is None:
                continue
            labels = _labels(attrs)
            count.add_metric([*labels, "idle"], stats.idle)
            count.add_metric([*labels, "used"], stats.used)
            pending.add_metric(labels, stats.pending)
            most.add_metric(labels, stats.max)
            least.add_metric(labels, stats.min)
            timeouts.add_metric(labels, stats.timeouts)
            for kind, timing in (("wait", stats.wait), ("use", stats.use), ("create", stats.create)):
                _timing(times[kind], labels, timing)
        yield from (count, pending, most, least, timeouts, *times.values())

    def _cache(self) -> Iterable[Metric]:
        """The read-through cache's counts in this process, per cached table (none when it is off)."""
        if self.hub.cache is None:
            return
        labels = ["table"]
        requests = CounterMetricFamily(
            "dbplex_cache_requests", "Cached reads by result: hit or miss.", labels=[*labels, "result"]
        )
        fills = CounterMetricFamily(
            "dbplex_cache_fills",
            "Misses by what became of their entry: stored, or lost to a write.",
            labels=[*labels, "outcome"],
        )
        invalidations = CounterMetricFamily(
            "dbplex_cache_invalidations", "Entries deleted by writes through dbplex.", labels=labels
        )
        errors = CounterMetricFamily(
            "dbplex_cache_errors", "Cache store failures (reads served by the source).", labels=labels
        )
        age = SummaryMetricFamily(
            "dbplex_cache_hit_age_seconds", "Age of the entries hits served (staleness).", labels=labels
        )
        age_max = GaugeMetricFamily("dbplex_cache_hit_age_max_seconds", "The oldest entry a hit served.", labels=labels)
        ttl = GaugeMetricFamily("dbplex_cache_ttl_seconds", "The configured life of an entry.", labels=labels)
        for name, stats in self.hub.cache.stats().items():
            requests.add_metric([name, "hit"], stats.hits)
            requests.add_metric([name, "miss"], stats.misses)
            fills.add_metric([name, "stored"], stats.fills)
            fills.add_metric([name, "lost"], stats.lost)
            invalidations.add_metric([name], stats.invalidations)
            errors.add_metric([name], stats.errors)
            age.add_metric([name], stats.hits, stats.age_sum)
            age_max.add_metric([name], stats.age_max)
            ttl.add_metric([name], stats.ttl)
        yield from (requests, fills, invalidations, errors, age, age_max, ttl)

    def _servers(self) -> Iterable[Metric]:
        for instrument, values in server.observe(self.hub, self.metrics.pool_attributes):
            extra = instrument.prometheus_attribute
            kind = GaugeMetricFamily if instrument.kind == "gauge" else CounterMetricFamily
            family = kind(
                instrument.prometheus_name, instrument.description, labels=[*POOL_LABELS, *([extra] if extra else [])]
            )
            for attrs, label, value in values:
                family.add_metric([*_labels(attrs), *([label] if extra else [])], value)
            yield family


def registry(hub: Hub | AsyncHub) -> CollectorRegistry:
    """A registry of its own holding ``hub``'s collector (not the process-wide default one)."""
    made = CollectorRegistry(auto_describe=False)
    made.register(HubCollector(hub))
    return made


def exposition(hub: Hub | AsyncHub) -> str:
    """``hub``'s metrics in the Prometheus text format."""
    return generate_latest(registry(hub)).decode()


def wsgi_app(hub: Hub | AsyncHub) -> Any:
    """A WSGI application answering every path with ``hub``'s metrics."""
    return make_wsgi_app(registry(hub))


def asgi_app(hub: Hub | AsyncHub) -> Any:
    """An ASGI application answering every HTTP path with ``hub``'s metrics; for an async hub it
    first awaits the servers' checks when they are due (see :mod:`dbplex.metrics.server`)."""
    from dbplex.aio.hub import AsyncHub

    app = make_asgi_app(registry(hub))
    readings = server.readings(hub)
    if readings is None or not isinstance(hub, AsyncHub):
        return app
    checked = hub

    async def refreshed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await readings.refresh(checked)
        await app(scope, receive, send)

    return refreshed
