"""Read/write split over a source's replicas.

Reads go to a replica chosen by the strategy, skipping replicas whose breaker is open or whose
replication lag exceeds ``max_lag``; a read that fails on a replica for want of a connection is
retried on the next one and finally on the primary, so replica failures cost latency, not
errors. Writes go to the primary (the hub runs them) and open the read-your-writes window.

A checker thread, started with the first routed read, asks each replica for its health every
``lag_check_interval`` seconds (the backend's ``dbplex_health`` reports ``lag_seconds``) and
probes replicas whose breaker has been open for ``reset_after`` seconds.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from dbplex.backends import Source
from dbplex.errors import DbplexError, SourceUnavailable, UnsupportedError
from dbplex.health import Health, Status
from dbplex.ops import Op
from dbplex.pool import Pool
from dbplex.result import Result
from dbplex.routing import strategies
from dbplex.routing.breaker import Breaker
from dbplex.secrets import scrub

#: weight of the newest read in a replica's moving-average latency.
_LATENCY_WEIGHT = 0.2


class Replica:
    """One replica of a source: its own Source (URL), lazily opened pool, breaker and lag."""

    __slots__ = ("_flight", "breaker", "in_flight", "lag_seconds", "latency_ms", "lock", "pool", "source")

    def __init__(self, source: Source, breaker: Breaker) -> None:
        self.source = source
        self.breaker = breaker
        self.pool: Pool | None = None
        #: guards opening the pool.
        self.lock = threading.Lock()
        self._flight = threading.Lock()
        self.in_flight = 0
        self.latency_ms = 0.0
        #: the lag the last health check reported; None when unknown.
        self.lag_seconds: float | None = None

    def enter(self) -> None:
        with self._flight:
            self.in_flight += 1

    def leave(self) -> None:
        with self._flight:
            self.in_flight -= 1


class Router:
    """Routes the reads of one source; the primary's own execution is the hub's ``primary`` callable."""

    def __init__(self, source: Source, hooks: Any, primary: Callable[[Op], Result]) -> None:
        routing = source.config.routing
        self.source = source
        self._hooks = hooks
        self._primary = primary
        self._max_lag = routing.max_lag
        self._interval = routing.lag_check_interval
        self._ryw = routing.read_your_writes
        self._order: strategies.Order[Replica] = strategies.make(routing.strategy, routing.latency_window)
        self._until = contextvars.ContextVar(f"dbplex-ryw-{source.name}", default=0.0)
        self.replicas = [
            Replica(
                Source(
                    name=f"{source.name}/replica{i}",
                    backend=source.backend,
                    config=msgspec.structs.replace(source.config, url=url, replicas=[]),
                    options=source.options,
                ),
                Breaker(routing.breaker.failures, routing.breaker.reset_after, f"source {source.name!r} replica{i}"),
            )
            for i, url in enumerate(source.config.replicas, start=1)
        ]
        self._checker: threading.Thread | None = None
        self._checker_lock = threading.Lock()
        self._stop = threading.Event()
        #: reads that fell back to the primary because no replica could take them.
        self.fallbacks = 0

    # -- the read and write paths --------------------------------------------------------------

    def wrote(self) -> None:
        """A write went to the primary: keep this context's reads there for ``read_your_writes``."""
        if self._ryw:
            self._until.set(time.monotonic() + self._ryw)

    def read(self, op: Op) -> Result:
        if self._checker is None:
            self._start_checker()
        if self._ryw and time.monotonic() < self._until.get():
            return self._primary(op)
        usable = [r for r in self.replicas if r.breaker.closed and not self._lagging(r)]
        if usable:
            for replica in self._order(usable) if len(usable) > 1 else usable:
                try:
                    return self._read_on(replica, op)
                except SourceUnavailable:
                    replica.breaker.failure()
        self.fallbacks += 1
        return self._primary(op)

    def _lagging(self, replica: Replica) -> bool:
        lag = replica.lag_seconds
        return lag is not None and lag > self._max_lag

    def _read_on(self, replica: Replica, op: Op) -> Result:
        pool = replica.pool or self._open(replica)
        replica.enter()
        started = time.perf_counter()
        try:
            with pool.connection() as conn:
                result = self._hooks.query(source=replica.source, conn=conn, op=op)
        finally:
            replica.leave()
        if result is None:
            raise UnsupportedError(
                f"source {replica.source.name!r}: backend {replica.source.backend!r} does not run it"
            )
        elapsed = (time.perf_counter() - started) * 1000
        replica.latency_ms += (elapsed - replica.latency_ms) * _LATENCY_WEIGHT
        if replica.breaker.failures:
            replica.breaker.success()
        return result  # type: ignore[no-any-return]

    def _open(self, replica: Replica) -> Pool:
        with replica.lock:
            if replica.pool is None:
                created = self._hooks.open_pool(replica.source)
                if created is None:
                    raise UnsupportedError(f"source {replica.source.name!r}: backend provides no pool")
                replica.pool = created
            return replica.pool

    # -- health and the checker ------------------------------------------------------------------

    def check(self, replica: Replica) -> Health:
        """One health check of ``replica``: it feeds the breaker and the lag the reads consult."""
        source = replica.source
        started = time.perf_counter()
        try:
            health: Health | None = self._hooks.health(source=source, pool=replica.pool or self._open(replica))
            if health is None:
                health = Health(source=source.name, backend=source.backend, status=Status.UNKNOWN)
        except Exception as exc:  # a health check reports failures, it does not raise them
            message = str(exc) if isinstance(exc, DbplexError) else f"{type(exc).__name__}: {exc}"
            health = Health(source=source.name, backend=source.backend, status=Status.DOWN, error=scrub(message))
        if health.status is Status.DOWN:
            replica.breaker.failure()
        else:
            replica.lag_seconds = health.lag_seconds
            replica.breaker.success()
            if self._lagging(replica):
                health.status = Status.DEGRADED
                health.error = f"replication lag {health.lag_seconds:.1f}s exceeds max_lag {self._max_lag:g}s"
        health.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        health.breaker = replica.breaker.state
        return health

    def _start_checker(self) -> None:
        with self._checker_lock:
            if self._checker is None and not self._stop.is_set():
                self._checker = threading.Thread(
                    target=self._check_loop, name=f"dbplex-replicas-{self.source.name}", daemon=True
                )
                self._checker.start()

    def _check_loop(self) -> None:
        while not self._stop.wait(self._interval):
            for replica in self.replicas:
                if replica.breaker.closed or replica.breaker.probe_due():
                    self.check(replica)

    def after_fork(self) -> list[Pool]:
        """In a forked child: forget the checker thread and the replicas' pools (returned, unclosed)."""
        # Locks another thread of the parent held at fork() stay held in the child: new ones.
        self._checker, self._checker_lock, self._stop = None, threading.Lock(), threading.Event()
        inherited = []
        for replica in self.replicas:
            replica.lock = threading.Lock()
            replica._flight = threading.Lock()
            replica.breaker.after_fork()
            if replica.pool is not None:
                inherited.append(replica.pool)
                replica.pool = None
        return inherited

    def close(self) -> None:
        """Stop the checker and close the replicas' pools; reads may reopen them."""
        self._stop.set()
        with self._checker_lock:
            checker, self._checker = self._checker, None
        if checker is not None:
            checker.join()
        self._stop.clear()
        for replica in self.replicas:
            with replica.lock:
                pool, replica.pool = replica.pool, None
            if pool is not None:
                pool.close()
