"""Health of each source and of the whole configuration."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import msgspec

from dbplex.pool import PoolStats


class Status(str, enum.Enum):
    """Ordered from best to worst; aggregation keeps the worst that matters."""

    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


_RANK = {Status.UP: 0, Status.UNKNOWN: 1, Status.DEGRADED: 2, Status.DOWN: 3}


class Resources(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the server says about itself, read by the health check: the same meaning for every backend.

    Counters run since the server started (or its statistics were reset); a field the server does
    not report is None (or empty). Hit ratio is ``cache_hits / (cache_hits + cache_misses)``.
    """

    #: client connections the server has open (every client's, not only this process's).
    connections: int | None = None
    #: ``connections`` split by the server's own state names (they add up to it): PostgreSQL's
    #: ``pg_stat_activity.state``, MongoDB's ``active``/``idle``, Redis's ``blocked``/``other``.
    connections_by_state: dict[str, int] = {}
    #: the most client connections the server accepts.
    connections_max: int | None = None
    #: on disk, the database the source's URL names.
    database_bytes: int | None = None
    #: the server process's memory in use.
    memory_bytes: int | None = None
    #: lookups the server's cache answered, and those it had to read or miss (counters).
    cache_hits: int | None = None
    cache_misses: int | None = None
    #: operations the server counted, by kind (counters; kinds named by the server, see docs).
    operations: dict[str, int] = {}
    #: on a primary, how far each of its replicas is behind, in seconds, by replica address.
    replica_lag_seconds: dict[str, float] = {}
    #: everything else the backend reads, under the server's own names.
    extra: dict[str, Any] = {}

    @property
    def hit_ratio(self) -> float | None:
        """The share of cache lookups that hit; None when the server counts none."""
        if self.cache_hits is None or self.cache_misses is None or not self.cache_hits + self.cache_misses:
            return None
        return self.cache_hits / (self.cache_hits + self.cache_misses)


class Health(msgspec.Struct, kw_only=True):
    """One source's health as a backend reports it (latency is filled in by the core)."""

    source: str
    backend: str
    status: Status
    required: bool = True
    #: one check's round trip on an open connection (filled in by the core).
    latency_ms: float | None = None
    #: when the check had to open a connection first: the time that took, apart from ``latency_ms``.
    connect_ms: float | None = None
    server_version: str | None = None
    pool: PoolStats | None = None
    error: str | None = None
    #: how far a replica's data is behind its primary, in seconds (set by the backend for replicas).
    lag_seconds: float | None = None
    #: a replica's circuit breaker, ``closed`` or ``open`` (set by the router).
    breaker: str | None = None
    #: a source's replicas, each checked on its own.
    replicas: list[Health] = []
    #: the server's resources, as far as the backend reads them; None when it reads none.
    resources: Resources | None = None
    details: dict[str, Any] = {}


class Report(msgspec.Struct, kw_only=True):
    """Every source's health and the overall verdict.

    ``status`` is DOWN when a required source is DOWN, DEGRADED when an optional source is
    DOWN or any source is DEGRADED (a source is DEGRADED when one of its replicas is not UP:
    reads still succeed on the others or on the primary), UNKNOWN when nothing was checked, else UP. ``ready`` is
    true unless a required source is DOWN: the answer a readiness probe wants.
    """

    status: Status
    ready: bool
    sources: list[Health]


def aggregate(checks: Iterable[Health]) -> Report:
    """Combine per-source health into one report."""
    checks = list(checks)
    if not checks:
        return Report(status=Status.UNKNOWN, ready=True, sources=[])
    worst = Status.UP
    for check in checks:
        status = check.status
        if status is Status.DOWN and not check.required:
            status = Status.DEGRADED
        if _RANK[status] > _RANK[worst]:
            worst = status
    ready = not any(c.status is Status.DOWN and c.required for c in checks)
    return Report(status=worst, ready=ready, sources=checks)
