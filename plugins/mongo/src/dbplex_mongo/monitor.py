"""Pool statistics pymongo does not keep: counted from its connection-pool events.

A ``MongoClient`` has one pool per server it talks to; one :class:`PoolMonitor` listens to all
of them, so gauges are sums over the client's servers and ``max`` is per server. Every
operation pymongo runs checks a connection out and back in (a dbplex ``connection()``
checkout itself takes none), so ``acquired``, ``wait`` and ``use`` count driver checkouts.

pymongo numbers connections per pool from 1, so while a replaced client (lifetime, resize)
still serves next to its successor, both have a connection 1 to the same address. Each client
therefore gets its own listener (:meth:`PoolMonitor.listener`), and every per-connection entry
(creation and checkout times, the leak detector's) is keyed by the client's generation too.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from pymongo import monitoring

from dbplex.pool import PoolCounters, PoolStats
from dbplex.pooling.leaks import LeakDetector

_LOST = frozenset({monitoring.ConnectionClosedReason.ERROR, monitoring.ConnectionClosedReason.STALE})
#: (client generation, server address, connection id): unique across the clients of one source.
Key = tuple[int, Any, int]


class PoolMonitor(PoolCounters, monitoring.ConnectionPoolListener):
    """Counters and gauges of one client's pools, fed by pymongo's CMAP events."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.used = 0
        self._checkout_started = threading.local()
        # connection -> when it was created / checked out
        self._since: dict[Key, float] = {}
        self._generations = itertools.count(1)
        #: set by the pool when ``pool.leak_threshold`` is on; records who made each driver checkout.
        self.leaks: LeakDetector | None = None

    def listener(self) -> ClientListener:
        """The event listener of one new client: its events count here, keyed by its generation."""
        return ClientListener(self, next(self._generations))

    def stats(self, source: str, backend: str, min_size: int, max_size: int) -> PoolStats:
        with self._lock:
            size, used = self.size, self.used
        stats = PoolStats(source=source, backend=backend, size=size, used=used, idle=max(size - used, 0))
        stats.min, stats.max = min_size, max_size
        return self.fill(stats)

    # -- connections ------------------------------------------------------------------------------

    def connection_created(self, event: monitoring.ConnectionCreatedEvent, generation: int = 0) -> None:
        now = time.perf_counter()
        with self._lock:
            self.size += 1
            self.created += 1
            self._since[(generation, event.address, event.connection_id)] = now

    def connection_ready(self, event: monitoring.ConnectionReadyEvent, generation: int = 0) -> None:
        now = time.perf_counter()
        with self._lock:
            started = self._since.pop((generation, event.address, event.connection_id), now)
            self.create.add((now - started) * 1000)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent, generation: int = 0) -> None:
        with self._lock:
            self.size -= 1
            self._since.pop((generation, event.address, event.connection_id), None)
            if event.reason in _LOST:
                self.lost += 1

    # -- checkouts (the hot path: one lock per event) ---------------------------------------------

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        self._checkout_started.at = time.perf_counter()
        with self._lock:
            self.pending += 1

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        with self._lock:
            self.pending -= 1
            if event.reason == monitoring.ConnectionCheckOutFailedReason.TIMEOUT:
                self.timeouts += 1
            elif event.reason == monitoring.ConnectionCheckOutFailedReason.CONN_ERROR:
                self.errors += 1

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent, generation: int = 0) -> None:
        now = time.perf_counter()
        started = getattr(self._checkout_started, "at", now)
        with self._lock:
            self.pending -= 1
            self.used += 1
            self.acquired += 1
            self.wait.add((now - started) * 1000)
            self._since[(generation, event.address, event.connection_id)] = now
        if self.leaks is not None:
            self.leaks.taken((generation, event.address, event.connection_id))

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent, generation: int = 0) -> None:
        now = time.perf_counter()
        with self._lock:
            self.used -= 1
            self.use.add((now - self._since.pop((generation, event.address, event.connection_id), now)) * 1000)
        if self.leaks is not None:
            self.leaks.returned((generation, event.address, event.connection_id))

    # -- pools: nothing to count --------------------------------------------------------------------

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass


class ClientListener(monitoring.ConnectionPoolListener):
    """One client's CMAP events, passed to its source's :class:`PoolMonitor` with the client's generation."""

    __slots__ = ("_generation", "_monitor")

    def __init__(self, monitor: PoolMonitor, generation: int) -> None:
        self._monitor = monitor
        self._generation = generation

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self._monitor.connection_created(event, self._generation)

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        self._monitor.connection_ready(event, self._generation)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        self._monitor.connection_closed(event, self._generation)

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        self._monitor.connection_check_out_started(event)

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        self._monitor.connection_check_out_failed(event)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self._monitor.connection_checked_out(event, self._generation)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self._monitor.connection_checked_in(event, self._generation)

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass
