"""Pool statistics pymongo does not keep, counted without pymongo's connection-pool events.

pymongo publishes CMAP events all or nothing: one ``ConnectionPoolListener`` on a client turns
on three events per operation (checkout started, checked out, checked in), each an event
object passed through pymongo's publishing and logging checks, which cost more than the rest
of dbplex's path together. So the counters come from the client's own pool class instead
(:meth:`PoolMonitor.pool_class`, pymongo's ``_pool_class`` option): a :class:`Pool` subclass
that counts in the methods pymongo calls anyway (one lock per checkout and one per check-in),
and the gauges (``size``, ``idle``, ``used``, ``pending``) are read from pymongo's pools when
:meth:`PoolMonitor.stats` is asked, not counted.

A ``MongoClient`` has one pool per server it talks to: gauges are sums over the client's
servers (and over a replaced client still draining) and ``max`` is per server. Every operation
pymongo runs checks a connection out and back in (a dbplex ``connection()`` checkout itself
takes none), so ``acquired``, ``wait`` and ``use`` count driver checkouts.

Leak detection (``pool.leak_threshold``) needs to know which connection each driver checkout
took, so only then does a client get a listener (:meth:`PoolMonitor.listener`). pymongo numbers
connections per pool from 1, so while a replaced client still serves next to its successor,
both have a connection 1 to the same address: each client's listener keys its connections by
the client's generation too.
"""

from __future__ import annotations

import itertools
import weakref
from time import perf_counter
from typing import Any

from pymongo import monitoring
from pymongo.errors import PyMongoError, WaitQueueTimeoutError
from pymongo.pool import Connection, Pool

from dbplex.pool import PoolCounters, PoolStats
from dbplex.pooling.leaks import LeakDetector

#: (client generation, server address, connection id): unique across the clients of one source.
Key = tuple[int, Any, int]


class PoolMonitor(PoolCounters):
    """Counters of one source's clients (fed by :class:`CountingPool`) and gauges read from their pools."""

    def __init__(self) -> None:
        super().__init__()
        #: the application pools of every client not yet garbage (monitoring pools are not counted).
        self.pools: weakref.WeakSet[CountingPool] = weakref.WeakSet()
        self._generations = itertools.count(1)
        #: set by the pool when ``pool.leak_threshold`` is on; records who made each driver checkout.
        self.leaks: LeakDetector | None = None

    def pool_class(self) -> type[Pool]:
        """The ``_pool_class`` of one new client: its pools count into this monitor."""
        return type("CountingPool", (CountingPool,), {"monitor": self})

    def listener(self) -> ClientListener | None:
        """The event listener of one new client, only when leaks are detected (see the module doc)."""
        if self.leaks is None:
            return None
        return ClientListener(self.leaks, next(self._generations))

    def waiting(self) -> int:
        """Driver checkouts waiting for a connection now, over every pool."""
        return sum(max(pool.operation_count - pool.active_sockets, 0) for pool in list(self.pools))

    def stats(self, source: str, backend: str, min_size: int, max_size: int) -> PoolStats:
        idle = used = pending = 0
        for pool in list(self.pools):  # unlocked reads of ints and a deque's length: a snapshot
            idle += len(pool.conns)
            used += pool.active_sockets
            pending += max(pool.operation_count - pool.active_sockets, 0)
        # active_sockets counts a checkout from the moment it holds a slot, its connection possibly
        # still opening: size counts that one as open.
        stats = PoolStats(source=source, backend=backend, size=idle + used, used=used, idle=idle, pending=pending)
        stats.min, stats.max = min_size, max_size
        return self.fill(stats)


class CountingPool(Pool):
    """pymongo's pool, counting into ``monitor`` (set on the per-client subclass) as it works.

    Only the methods pymongo calls per checkout anyway are extended, each by a clock read and
    one lock: no event objects, no per-connection dictionary.
    """

    monitor: PoolMonitor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self, "is_sdam", False):  # a server monitor's own connection: not the application's pool
            self.__class__ = Pool  # type: ignore[assignment]
        else:
            self.monitor.pools.add(self)

    def _get_conn(self, *args: Any, **kwargs: Any) -> Connection:
        started = perf_counter()
        try:
            conn = super()._get_conn(*args, **kwargs)
        except WaitQueueTimeoutError:
            self.monitor.count("timeouts")
            raise
        except PyMongoError:  # the pool could not open a connection, or was cleared or closed meanwhile
            self.monitor.count("errors")
            raise
        conn.dbplex_checked_out = now = perf_counter()  # type: ignore[attr-defined]
        monitor = self.monitor
        with monitor._lock:
            monitor.acquired += 1
            monitor.wait.add((now - started) * 1000)
        return conn

    def checkin(self, conn: Connection) -> None:
        super().checkin(conn)
        use_ms = (perf_counter() - conn.dbplex_checked_out) * 1000 if hasattr(conn, "dbplex_checked_out") else 0.0
        monitor = self.monitor
        with monitor._lock:
            monitor.use.add(use_ms)
            # closed on its way back in: it broke during use, or is stale (its pool was cleared)
            if conn.closed and not self.closed:
                monitor.lost += 1

    def connect(self, *args: Any, **kwargs: Any) -> Connection:
        started = perf_counter()
        conn = super().connect(*args, **kwargs)
        ms = (perf_counter() - started) * 1000
        with self.monitor._lock:
            self.monitor.created += 1
            self.monitor.create.add(ms)
        return conn

    def _perished(self, conn: Connection) -> bool:
        if not super()._perished(conn):
            return False
        max_idle = self.opts.max_idle_time_seconds
        if max_idle is None or conn.idle_time_seconds() <= max_idle:  # broken or stale, not merely idle
            self.monitor.count("lost")
        return True


class ClientListener(monitoring.ConnectionPoolListener):
    """One client's checkouts for leak detection, keyed by the client's generation."""

    __slots__ = ("_generation", "_leaks")

    def __init__(self, leaks: LeakDetector, generation: int) -> None:
        self._leaks = leaks
        self._generation = generation

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self._leaks.taken((self._generation, event.address, event.connection_id))

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self._leaks.returned((self._generation, event.address, event.connection_id))

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        pass

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pass

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        pass

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        pass

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        pass

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass
