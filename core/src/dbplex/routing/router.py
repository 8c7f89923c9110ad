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

from dbplex.backends import Source
from dbplex.binding import BoundBackend, Endpoint, derived
from dbplex.errors import SourceUnavailable
from dbplex.health import Health, Status
from dbplex.ops import Op
from dbplex.result import Result
from dbplex.routing import strategies
from dbplex.routing.breaker import Breaker

#: weight of the newest read in a replica's moving-average latency.
_LATENCY_WEIGHT = 0.2


def breaker(source: Source, endpoint: str) -> Breaker:
    """A breaker for one endpoint of ``source``, as its ``routing.breaker`` settings say."""
    settings = source.config.routing.breaker
    return Breaker(settings.failures, settings.reset_after, f"source {source.name!r} {endpoint}")


class Router:
    """Routes the reads of one source among its endpoints: the replicas, and the primary last."""

    def __init__(self, source: Source, primary: Endpoint, backend: BoundBackend) -> None:
        routing = source.config.routing
        self.source = source
        self._primary = primary
        self._max_lag = routing.max_lag
        self._interval = routing.lag_check_interval
        self._ryw = routing.read_your_writes
        self._order: strategies.Order[Endpoint] = strategies.make(routing.strategy, routing.latency_window)
        self._until = contextvars.ContextVar(f"dbplex-ryw-{source.name}", default=0.0)
        self.replicas = [
            Endpoint(
                derived(source, "replica", f"{source.name}/replica{i}", url),
                backend,
                breaker(source, f"replica{i}"),
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
            return self._primary.run(op)
        usable = [r for r in self.replicas if r.breaker.closed and not self._lagging(r)]
        if usable:
            for replica in self._order(usable) if len(usable) > 1 else usable:
                try:
                    return self._read_on(replica, op)
                except SourceUnavailable:
                    replica.breaker.failure()
        self.fallbacks += 1
        return self._primary.run(op)

    def _lagging(self, replica: Endpoint) -> bool:
        lag = replica.lag_seconds
        return lag is not None and lag > self._max_lag

    def _read_on(self, replica: Endpoint, op: Op) -> Result:
        replica.enter()
        started = time.perf_counter()
        try:
            result = replica.run(op)
        finally:
            replica.leave()
        elapsed = (time.perf_counter() - started) * 1000
        replica.latency_ms += (elapsed - replica.latency_ms) * _LATENCY_WEIGHT
        if replica.breaker.failures:
            replica.breaker.success()
        return result

    # -- health and the checker ------------------------------------------------------------------

    def check(self, replica: Endpoint) -> Health:
        """One health check of ``replica``: it feeds the breaker and the lag the reads consult."""
        health = replica.check()
        breaker = replica.breaker
        if health.status is Status.DOWN:
            breaker.failure()
        else:
            replica.lag_seconds = health.lag_seconds
            breaker.success()
            if self._lagging(replica):
                health.status = Status.DEGRADED
                health.error = f"replication lag {health.lag_seconds:.1f}s exceeds max_lag {self._max_lag:g}s"
        health.breaker = breaker.state
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

    def after_fork(self) -> None:
        """In a forked child: forget the checker thread (the hub resets the endpoints)."""
        # Locks another thread of the parent held at fork() stay held in the child: new ones.
        self._checker, self._checker_lock, self._stop = None, threading.Lock(), threading.Event()

    def close(self) -> None:
        """Stop the checker; the hub closes the endpoints' pools (reads may reopen them)."""
        self._stop.set()
        with self._checker_lock:
            checker, self._checker = self._checker, None
        if checker is not None:
            checker.join()
        self._stop.clear()
