"""Pool statistics of a source's MongoClients, derived from pymongo's connection-pool events.

pymongo's pool is observed the documented way only: each client gets a :class:`ClientListener`
(a ``pymongo.monitoring.ConnectionPoolListener``), and every figure of
:class:`~dbplex.pool.PoolStats` follows from the CMAP events it receives:

- ``size`` = connections ready − ready connections closed; ``used`` = checked out − checked in;
  ``idle`` = size − used; ``pending``: checkouts started and not yet checked out or failed (kept
  as the set of threads inside one: a checkout starts and ends in the thread that asked; under
  asyncio, of tasks);
- ``acquired`` and ``wait``: each ConnectionCheckedOut and its ``duration`` (from asking to
  getting, opening a connection included); ``use``: from a connection's ConnectionCheckedOut to
  its ConnectionCheckedIn;
- ``created`` and ``create``: each ConnectionReady and its ``duration`` (TCP, TLS, handshake,
  authentication); ``errors``: connections closed before they were ready, i.e. failed attempts,
  whether for a checkout or to keep ``minPoolSize`` (operations that found no server at all, which
  no pool sees, are counted by :mod:`dbplex_mongo.execute`);
- ``timeouts``: ConnectionCheckOutFailed with reason ``timeout``;
- ``lost``: ready connections closed with reason ``error`` (broke) or ``stale`` (their pool was
  cleared after a network error); ``recycled``: closed with reason ``idle`` (``maxIdleTimeMS``),
  or closed with a client the pool replaced (lifetime, resize).

A ``MongoClient`` has one pool per server it talks to: gauges are sums over the client's servers
(and over a replaced client still draining), ``max`` is per server. Every operation pymongo runs
checks a connection out and back in (a dbplex ``connection()`` checkout takes none), so
``acquired``, ``wait`` and ``use`` count driver checkouts. pymongo numbers connections per pool
from 1, so a replaced client and its successor both have a connection 1 to the same address:
per-connection state lives in each client's own listener, and the leak detector's keys carry
the client's generation.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from threading import get_ident
from time import perf_counter
from typing import Any

from pymongo import monitoring

from dbplex.backends import Source
from dbplex.errors import PoolTimeout
from dbplex.pool import PoolCounters, PoolStats, checkout_wait, notify, observers
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import timeout_error

_BROKEN = frozenset({monitoring.ConnectionClosedReason.ERROR, monitoring.ConnectionClosedReason.STALE})
_TIMEOUT = monitoring.ConnectionCheckOutFailedReason.TIMEOUT
_IDLE = monitoring.ConnectionClosedReason.IDLE
_POOL_CLOSED = monitoring.ConnectionClosedReason.POOL_CLOSED
#: (server address, connection id): unique within one client.
Conn = tuple[Any, int]


class PoolMonitor(PoolCounters):
    """The counters of one source's clients, fed by their :class:`ClientListener` s."""

    def __init__(self, min_size: int, max_size: int, source: Source | None = None, events: bool = True) -> None:
        lock = threading.Lock()
        #: the source whose pool this is, as :data:`dbplex.pool.observers` receive it.
        self.source = source
        super().__init__(lock)
        #: the counters' lock, which the listeners take themselves around the per-operation
        #: updates (as :class:`~dbplex.pool.PoolCounters` allows): one call less per event.
        self.lock = lock
        #: the pool's current bounds (per server; the pool updates them on resize).
        self.min_size, self.max_size = min_size, max_size
        #: ready connections closed (with ``created``, ``acquired`` and ``use.count``: the gauges).
        self.closed = 0
        #: threads inside a driver checkout; ``set.add`` and ``discard`` need no lock.
        self.checking_out: set[int] = set()
        self._generations = itertools.count(1)
        #: set by the pool when ``pool.leak_threshold`` is on; records who made each driver checkout.
        self.leak_detector: LeakDetector | None = None
        #: set by the pool when its source has a slow-operation threshold: each checkout's wait is
        #: then published in :data:`dbplex.pool.checkout_wait` with :attr:`source` (a driver
        #: checkout happens inside the operation, in its thread; the last one counts).
        self.publish_wait = False
        #: whether the clients have a listener (the ``pool_statistics`` option): without one, the
        #: gauges and the event counters stay 0, and only what the plugin sees itself is counted.
        self.events = events

    def listener(self, caller: Callable[[], int] = get_ident) -> ClientListener | None:
        """The event listener of one new client (None when statistics are off). ``caller`` names
        who is checking out: the thread (a checkout starts and ends in the thread that asked), or
        under asyncio the task."""
        return ClientListener(self, next(self._generations), caller) if self.events else None

    def waiting(self) -> int:
        """Driver checkouts waiting for a connection now (a snapshot: ``max_waiting`` is a soft bound)."""
        return len(self.checking_out)

    def in_use(self) -> int | None:
        """Driver connections checked out now (None: not known without the events)."""
        if not self.events:
            return None
        with self._lock:
            return self.acquired - self.use.count

    def timeout_error(self, source: Source) -> PoolTimeout:
        """The error of a driver checkout that waited ``pool.timeout`` in vain, as every pool words it
        (counted here when no listener counts its event)."""
        if not self.events:
            self.count("timeouts")
        return timeout_error(source.name, source.config.pool.timeout, self.in_use(), self.max_size)

    def stats(self, source: str, backend: str) -> PoolStats:
        with self._lock:
            size = self.created - self.closed
            used = self.acquired - self.use.count
        stats = PoolStats(
            source=source, backend=backend, size=size, used=used, idle=max(size - used, 0), pending=self.waiting()
        )
        stats.min, stats.max = self.min_size, self.max_size
        return self.fill(stats)


class ClientListener(monitoring.ConnectionPoolListener):
    """One client's CMAP events, counted into its source's :class:`PoolMonitor`.

    Of the three events of every operation, checkout started takes no lock, checked out and
    checked in one each (the monitor's, taken here as :class:`~dbplex.pool.PoolCounters` allows,
    doing what its ``checked_out`` and ``checked_in`` do); the rest are rare.
    """

    __slots__ = ("_caller", "_checking_out", "_generation", "_leaks", "_lock", "_monitor", "_out", "_ready", "retired")

    def __init__(self, monitor: PoolMonitor, generation: int, caller: Callable[[], int] = get_ident) -> None:
        self._monitor = monitor
        self._caller = caller
        self._lock = monitor.lock
        self._checking_out = monitor.checking_out
        self._leaks = monitor.leak_detector
        self._generation = generation
        #: checked-out connections: when they were taken, and by whom (thread or task).
        self._out: dict[Conn, tuple[float, int]] = {}
        #: connections that became ready and are not closed yet.
        self._ready: set[Conn] = set()
        #: set when the pool replaced this client: its connections closing with it are recycled.
        self.retired = False

    # -- checkouts (every operation) ----------------------------------------------------------------

    def connection_check_out_started(self, event: monitoring.ConnectionCheckOutStartedEvent) -> None:
        self._checking_out.add(self._caller())

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        caller = self._caller()
        self._checking_out.discard(caller)
        conn = (event.address, event.connection_id)
        if conn in self._out:  # its last use ended without an event (see :meth:`unwound`)
            self._use_ended(conn)
        self._out[conn] = (perf_counter(), caller)
        waited = event.duration or 0.0
        wait_ms = waited * 1000
        monitor = self._monitor
        if monitor.publish_wait:
            checkout_wait.latest = (monitor.source, waited)
        with self._lock:
            monitor.acquired += 1
            monitor.wait.add(wait_ms)
        if observers:
            notify(monitor.source, "wait", wait_ms)
        if self._leaks is not None:
            self._leaks.taken((self._generation, *conn))

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self._use_ended((event.address, event.connection_id))

    def unwound(self, caller: int) -> None:
        """``caller``'s driver operations have all ended (its dbplex checkout is left by an
        exception): its driver checkouts have ended too. pymongo's asyncio pool can put back a
        connection whose check-in was cancelled without publishing ConnectionCheckedIn."""
        for conn in [conn for conn, (_, who) in self._out.items() if who == caller]:
            self._use_ended(conn)

    def _use_ended(self, conn: Conn) -> None:
        """``conn`` came back, or closed while out; once only (a closed one is not checked in)."""
        taken = self._out.pop(conn, None)
        if taken is None:
            return
        use_ms = (perf_counter() - taken[0]) * 1000
        with self._lock:
            self._monitor.use.add(use_ms)
        if observers:
            notify(self._monitor.source, "use", use_ms)
        if self._leaks is not None:
            self._leaks.returned((self._generation, *conn))

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        self._checking_out.discard(self._caller())
        if event.reason == _TIMEOUT:
            self._monitor.count("timeouts")

    # -- connections ----------------------------------------------------------------------------------

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        pass  # counted once ready: a connection that fails to open is an error, not one more open

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        self._ready.add((event.address, event.connection_id))
        self._monitor.count("created")
        create_ms = (event.duration or 0.0) * 1000
        self._monitor.time("create", create_ms)
        if observers:
            notify(self._monitor.source, "create", create_ms)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        monitor = self._monitor
        conn = (event.address, event.connection_id)
        self._use_ended(conn)  # closed while checked out (an asyncio command cancelled): its use ends
        if conn not in self._ready:
            if event.reason == monitoring.ConnectionClosedReason.ERROR:
                monitor.count("errors")  # the attempt to open it failed
            return
        self._ready.discard(conn)
        monitor.count("closed")
        reason = event.reason
        if reason in _BROKEN:
            monitor.count("lost")
        elif reason == _IDLE or (reason == _POOL_CLOSED and self.retired):
            monitor.count("recycled")

    # -- pools: nothing to count ----------------------------------------------------------------------

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass
