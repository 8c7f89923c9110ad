"""One pool protocol and one stats schema for every backend.

dbplex's own pool (:mod:`dbplex.pooling.pool`, over a backend's connector) satisfies
:class:`Pool`; so does the object a backend whose driver pools internally (pymongo) returns
from ``dbplex_pool``. What such a driver does not count itself, :class:`PoolCounters` counts,
so that ``pool_stats()`` means the same thing for every source.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

import msgspec

#: upper bounds (inclusive) of :attr:`Timing.buckets`, in milliseconds: the buckets the semantic
#: conventions advise for ``db.client.connection.wait_time``, ``use_time`` and ``create_time``.
BUCKET_BOUNDS_MS = (1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0)


#: called with (the pool's :class:`~dbplex.backends.Source`, ``"wait"``, ``"use"`` or
#: ``"create"``, milliseconds) for every duration a pool times, by exporters that need each one
#: (OpenTelemetry's histograms take values, not totals). Empty unless an exporter registered:
#: a pool then pays one truth test per checkout.
TimingObserver = Callable[[Any, str, float], None]
observers: list[TimingObserver] = []


def notify(source: Any, kind: str, ms: float) -> None:
    """Hand one duration to every observer (the caller tests ``observers`` first: the hot path)."""
    for observer in observers:
        observer(source, kind, ms)


def _no_buckets() -> list[int]:
    return [0] * (len(BUCKET_BOUNDS_MS) + 1)


class Timing(msgspec.Struct, kw_only=True):
    """A running summary of durations in milliseconds, and their histogram.

    ``buckets[i]`` counts the durations at most ``BUCKET_BOUNDS_MS[i]`` and above the bound
    before it (not cumulative); the last one those above every bound. Its sum is ``count``.
    """

    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    buckets: list[int] = msgspec.field(default_factory=_no_buckets)

    def add(self, ms: float) -> None:
        """Record one duration: called under the pool's lock, so a bisection and three increments."""
        self.count += 1
        self.total_ms += ms
        if ms > self.max_ms:
            self.max_ms = ms
        self.buckets[0 if ms <= 1.0 else bisect_left(BUCKET_BOUNDS_MS, ms)] += 1  # BUCKET_BOUNDS_MS[0]: most checkouts

    def merged(self, other: Timing) -> Timing:
        """Both timings as one (a source whose pool is several pools, e.g. one per cluster node)."""
        return Timing(
            count=self.count + other.count,
            total_ms=self.total_ms + other.total_ms,
            max_ms=max(self.max_ms, other.max_ms),
            buckets=[a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
        )

    def copy(self) -> Timing:
        """A snapshot that later additions do not change."""
        return Timing(count=self.count, total_ms=self.total_ms, max_ms=self.max_ms, buckets=list(self.buckets))

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0


class PoolStats(msgspec.Struct, kw_only=True):
    """A pool's state and counters, the same schema for every backend.

    Gauges: ``size`` connections open, ``idle`` of them free, ``used`` checked out,
    ``pending`` callers waiting, ``min`` and ``max`` configured bounds. Counters since start:
    ``acquired`` checkouts, ``timeouts`` waits that gave up, ``errors`` failed connection
    attempts, ``created`` connections opened, ``lost`` connections found broken, ``recycled``
    connections closed on purpose (lifetime, idle reaping, resize), ``leaks`` checkouts held past
    ``pool.leak_threshold``, ``rejected`` callers turned away by ``pool.max_waiting``. Timings:
    ``wait`` for a checkout, ``use`` how long it was held, ``create`` to open a connection.
    """

    source: str
    backend: str
    size: int = 0
    idle: int = 0
    used: int = 0
    pending: int = 0
    min: int = 0
    max: int = 0
    acquired: int = 0
    timeouts: int = 0
    errors: int = 0
    created: int = 0
    lost: int = 0
    recycled: int = 0
    leaks: int = 0
    rejected: int = 0
    wait: Timing = msgspec.field(default_factory=Timing)
    use: Timing = msgspec.field(default_factory=Timing)
    create: Timing = msgspec.field(default_factory=Timing)


class PoolCounters:
    """Thread-safe counters for what a driver's pool does not count itself.

    A pool that already holds a lock on every checkout passes it as ``lock`` and updates the
    fields directly while holding it (one acquisition per checkout, not two); it must then call
    the methods here only while *not* holding it.
    """

    def __init__(self, lock: threading.Lock | None = None) -> None:
        self._lock = lock if lock is not None else threading.Lock()
        self.acquired = 0
        self.timeouts = 0
        self.errors = 0
        self.created = 0
        self.lost = 0
        self.recycled = 0
        self.leaks = 0
        self.rejected = 0
        self.pending = 0
        self.wait = Timing()
        self.use = Timing()
        self.create = Timing()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def time(self, name: str, ms: float) -> None:
        with self._lock:
            getattr(self, name).add(ms)

    def start_waiting(self, limit: int) -> bool:
        """Count one more caller waiting for a connection; False (not counted) when ``limit`` (> 0) already wait."""
        with self._lock:
            if limit and self.pending >= limit:
                return False
            self.pending += 1
            return True

    def checked_out(self, wait_ms: float) -> None:
        """One checkout that waited ``wait_ms``: the per-operation call, so one lock, not two."""
        with self._lock:
            self.acquired += 1
            self.wait.add(wait_ms)

    def checked_in(self, use_ms: float) -> None:
        """A connection came back after being held ``use_ms``."""
        with self._lock:
            self.use.add(use_ms)

    def fill(self, stats: PoolStats) -> PoolStats:
        """Copy the counters into ``stats`` (whose gauges the backend has set)."""
        with self._lock:
            stats.acquired, stats.timeouts, stats.errors = self.acquired, self.timeouts, self.errors
            stats.created, stats.lost = self.created, self.lost
            stats.recycled, stats.leaks, stats.rejected = self.recycled, self.leaks, self.rejected
            stats.pending = max(stats.pending, self.pending)
            stats.wait, stats.use, stats.create = self.wait.copy(), self.use.copy(), self.create.copy()
        return stats


class CheckoutWait(threading.local):
    """This thread's latest checkout: its pool's source and the seconds it waited.

    A pool that knows its checkouts' waits sets :attr:`latest` on each one (one store) when its
    source has a slow-operation threshold (``source.config.slow.threshold_ms``), so that the
    slow-operation log can tell an operation's pool wait; other sources' pools store nothing. The source (the endpoint's own object, compared by identity) says whose checkout it was:
    an earlier checkout of another source is not this operation's.
    """

    latest: tuple[object, float] | None = None


#: set by dbplex's pool and by backends' own pools that can; read by :mod:`dbplex.slowlog`.
checkout_wait = CheckoutWait()
#: :data:`checkout_wait` under asyncio, where one thread runs many tasks' checkouts: the running
#: task's latest checkout, set by dbplex's asyncio pool (in the task that checks out, so the op
#: that runs on the connection sees it).
task_checkout_wait: ContextVar[tuple[object, float] | None] = ContextVar("dbplex_task_checkout_wait", default=None)


@runtime_checkable
class Pool(Protocol):
    """What a backend's ``dbplex_pool`` hook returns."""

    def connection(self) -> AbstractContextManager[Any]:
        """Check out the native driver object (psycopg Connection, MongoClient, Redis client)."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """Check out a native connection inside a transaction: commit on success, roll back on error.

        Raises :class:`~dbplex.errors.UnsupportedError` where the backend or server has none.
        """
        ...

    def stats(self) -> PoolStats:
        """The pool's gauges and counters."""
        ...

    def resize(self, min_size: int, max_size: int) -> None:
        """Change the pool's bounds while it runs: grow now, shrink as connections come back."""
        ...

    def close(self) -> None:
        """Close every connection; the pool is unusable afterwards."""
        ...
