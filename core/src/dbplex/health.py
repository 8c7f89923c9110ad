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
