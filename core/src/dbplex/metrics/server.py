"""The servers' resources for exporters: health checks, read when metrics are collected, at most
once per ``[metrics] resources_interval``.

A scrape reads the cached checks when they are fresh enough; otherwise the first caller runs
``hub.health()`` (each source bounded by its connect timeout, checked concurrently) while any
other caller waits for that one reading rather than starting its own, so a scrape storm costs
the servers one round of checks per interval.

An :class:`~dbplex.aio.hub.AsyncHub`'s checks are awaited on its loop, which a collector
(called synchronously, by the Prometheus client or an OpenTelemetry reader's thread) cannot do:
:func:`dbplex.metrics.prometheus_asgi_app` awaits :meth:`ServerReadings.refresh` before it
answers, and every exporter of that hub reads the checks it took (none before the first scrape).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal, NamedTuple

from dbplex.health import Health, Resources
from dbplex.metrics.recorder import Attributes

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub
    from dbplex.health import Report
    from dbplex.hub import Hub


class ServerReadings:
    """One hub's health checks, each endpoint's (replicas included), reused for ``interval`` seconds.

    It does not hold the hub (the registry below is keyed weakly by it): callers pass it in.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._checks: list[Health] = []
        #: an async hub's reading under way, which concurrent scrapes await rather than start their own.
        self._reading: asyncio.Future[Report] | None = None

    def read(self, hub: Hub | AsyncHub) -> list[Health]:
        """Every endpoint's latest health check, primaries and replicas alike (a replica's
        ``source`` is its pool's name, ``SOURCE/replicaN``); an async hub's as :meth:`refresh` left them."""
        from dbplex.hub import Hub

        if not isinstance(hub, Hub):
            return self._checks
        with self._lock:  # held while reading: concurrent scrapes wait for this reading
            if self._stale():
                self._store(hub.health())
            return self._checks

    async def refresh(self, hub: AsyncHub) -> None:
        """Check ``hub``'s servers if the checks are older than the interval. A scrape cancelled
        meanwhile does not cancel the reading, which the next scrape then awaits."""
        if not self._stale():
            return
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(hub.health())
        reading = self._reading
        report = await asyncio.shield(reading)
        if self._reading is reading:  # the first of the callers that awaited it stores it
            self._reading = None
            self._store(report)

    def _stale(self) -> bool:
        return time.monotonic() - self._read_at >= self._interval

    def _store(self, report: Report) -> None:
        self._checks = [c for check in report.sources for c in (check, *check.replicas)]
        self._read_at = time.monotonic()


_readings: weakref.WeakKeyDictionary[Hub | AsyncHub, ServerReadings] = weakref.WeakKeyDictionary()
_made = threading.Lock()


def readings(hub: Hub | AsyncHub) -> ServerReadings | None:
    """The readings every exporter of ``hub`` shares; None with ``[metrics] resources = false``."""
    config = hub.config.metrics
    if not config.resources:
        return None
    with _made:
        found = _readings.get(hub)
        if found is None:
            found = _readings[hub] = ServerReadings(config.resources_interval)
        return found


class Instrument(NamedTuple):
    """One server metric: its OpenTelemetry name, kind and unit (UCUM), and how a check gives its
    values, each with the value of the metric's own attribute (``""`` when it has none)."""

    name: str
    kind: Literal["gauge", "counter"]
    unit: str
    description: str
    attribute: str | None
    read: Callable[[Health, Resources], Iterable[tuple[str, float]]]

    @property
    def prometheus_name(self) -> str:
        """The name in Prometheus form, without a counter's ``_total`` (the client adds it)."""
        return self.name.replace(".", "_") + {"By": "_bytes", "s": "_seconds"}.get(self.unit, "")

    @property
    def prometheus_attribute(self) -> str | None:
        return self.attribute.replace(".", "_") if self.attribute else None


def _one(value: float | None) -> list[tuple[str, float]]:
    return [] if value is None else [("", value)]


def _connections(_: Health, r: Resources) -> Iterable[tuple[str, float]]:
    return r.connections_by_state.items() if r.connections_by_state else _one(r.connections)


#: the resources exported, named ``dbplex.server.*``: the semantic conventions name client-side
#: database metrics only (``db.client.*``), none of the server's own.
INSTRUMENTS = (
    Instrument(
        "dbplex.server.connection.count",
        "gauge",
        "{connection}",
        "Client connections the server has open (every client's), by the server's state names.",
        "dbplex.server.connection.state",
        _connections,
    ),
    Instrument(
        "dbplex.server.connection.max",
        "gauge",
        "{connection}",
        "The most client connections the server accepts.",
        None,
        lambda _, r: _one(r.connections_max),
    ),
    Instrument(
        "dbplex.server.database.size",
        "gauge",
        "By",
        "Size on disk of the database the source names.",
        None,
        lambda _, r: _one(r.database_bytes),
    ),
    Instrument(
        "dbplex.server.memory.usage",
        "gauge",
        "By",
        "Memory the server process uses.",
        None,
        lambda _, r: _one(r.memory_bytes),
    ),
    Instrument(
        "dbplex.server.cache.hits",
        "counter",
        "{lookup}",
        "Lookups the server's cache answered (PostgreSQL buffers, WiredTiger pages, Redis keyspace).",
        None,
        lambda _, r: _one(r.cache_hits),
    ),
    Instrument(
        "dbplex.server.cache.misses",
        "counter",
        "{lookup}",
        "Lookups the server's cache missed (read from disk, or a Redis key not found).",
        None,
        lambda _, r: _one(r.cache_misses),
    ),
    Instrument(
        "dbplex.server.operations",
        "counter",
        "{operation}",
        "Operations the server counted, by the server's kind names.",
        "dbplex.server.operation.kind",
        lambda _, r: r.operations.items(),
    ),
    Instrument(
        "dbplex.server.replica.lag",
        "gauge",
        "s",
        "On a primary: how far each replica it streams to is behind.",
        "dbplex.server.replica",
        lambda _, r: r.replica_lag_seconds.items(),
    ),
    Instrument(
        "dbplex.server.replication.lag",
        "gauge",
        "s",
        "On a replica: how far its data is behind its primary.",
        None,
        lambda h, _: _one(h.lag_seconds),
    ),
)


def observe(
    hub: Hub | AsyncHub, attributes: Callable[[str], Attributes | None]
) -> Iterator[tuple[Instrument, list[tuple[Attributes, str, float]]]]:
    """Each instrument with its values from the latest readings: the pool's attributes (found by
    ``attributes`` from the pool's name), the instrument's own attribute value, the value."""
    found = readings(hub)
    checks = found.read(hub) if found is not None else []
    pairs = [(a, c, c.resources) for c in checks if c.resources is not None and (a := attributes(c.source)) is not None]
    for instrument in INSTRUMENTS:
        yield instrument, [(a, label, value) for a, check, r in pairs for label, value in instrument.read(check, r)]
