"""Read/write split over a source's replicas.

Reads go to a replica chosen by the strategy, skipping replicas whose breaker is open or whose
replication lag exceeds ``max_lag``; a read that fails on a replica for want of a connection is
retried on the next one and finally on the primary, so replica failures cost latency, not
errors. Writes go to the primary (the hub runs them) and open the read-your-writes window.

A checker thread, started with the first routed read, asks each replica for its health every
``lag_check_interval`` seconds (the backend's ``dbplex_health`` reports ``lag_seconds``) and
probes replicas whose breaker has been open for ``reset_after`` seconds.

:class:`Routing` holds the decisions, without I/O, so that the asyncio router
(:mod:`dbplex.aio.router`) routes exactly as :class:`Router` does.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import Generic, Protocol, TypeVar

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


def replica_sources(source: Source) -> list[tuple[Source, Breaker]]:
    """The source of each of ``source``'s replicas (``SOURCE/replicaN``) with its breaker."""
    return [
        (derived(source, "replica", f"{source.name}/replica{i}", url), breaker(source, f"replica{i}"))
        for i, url in enumerate(source.config.replicas, start=1)
    ]


class Replica(strategies.Candidate, Protocol):
    """What the routing decisions read and update of a replica endpoint (sync or asyncio)."""

    breaker: Breaker
    #: the lag the last health check reported; None when unknown.
    lag_seconds: float | None


R = TypeVar("R", bound=Replica)


class Routing(Generic[R]):
    """The routing decisions of one source, without I/O: which replicas a read may try and in
    what order, the read-your-writes window, and what a read or a health check tells of a replica."""

    def __init__(self, source: Source, replicas: list[R]) -> None:
        routing = source.config.routing
        self.source = source
        self.replicas = replicas
        self.max_lag = routing.max_lag
        #: seconds between two rounds of replica health checks.
        self.interval = routing.lag_check_interval
        self._ryw = routing.read_your_writes
        self._order: strategies.Order[R] = strategies.make(routing.strategy, routing.latency_window)
        self._until = contextvars.ContextVar(f"dbplex-ryw-{source.name}", default=0.0)
        #: reads that fell back to the primary because no replica could take them.
        self.fallbacks = 0

    def wrote(self) -> None:
        """A write went to the primary: keep this context's reads there for ``read_your_writes``."""
        if self._ryw:
            self._until.set(time.monotonic() + self._ryw)

    def choices(self) -> list[R] | None:
        """The replicas a read tries, in order (then the primary, a fallback); None when this
        context's read-your-writes window sends it to the primary straight away."""
        if self._ryw and time.monotonic() < self._until.get():
            return None
        usable = [r for r in self.replicas if r.breaker.closed and not self.lagging(r)]
        return self._order(usable) if len(usable) > 1 else usable

    def lagging(self, replica: R) -> bool:
        lag = replica.lag_seconds
        return lag is not None and lag > self.max_lag

    def served(self, replica: R, elapsed_ms: float) -> None:
        """A read succeeded on ``replica`` in ``elapsed_ms``: its latency average, its breaker's count."""
        replica.latency_ms += (elapsed_ms - replica.latency_ms) * _LATENCY_WEIGHT
        if replica.breaker.failures:
            replica.breaker.success()

    def checked(self, replica: R, health: Health) -> Health:
        """A health check of ``replica`` feeds its breaker and the lag reads consult; a lagging
        replica is DEGRADED, saying by how much."""
        breaker = replica.breaker
        if health.status is Status.DOWN:
            breaker.failure()
        else:
            replica.lag_seconds = health.lag_seconds
            breaker.success()
            if self.lagging(replica):
                health.status = Status.DEGRADED
                health.error = f"replication lag {health.lag_seconds:.1f}s exceeds max_lag {self.max_lag:g}s"
        health.breaker = breaker.state
        return health

    def due(self) -> list[R]:
        """The replicas a round of the checker looks at: in rotation, or open long enough to probe."""
        return [r for r in self.replicas if r.breaker.closed or r.breaker.probe_due()]


class Router:
    """Routes the reads of one source among its endpoints: the replicas, and the primary last."""

    def __init__(self, source: Source, primary: Endpoint, backend: BoundBackend) -> None:
        self.source = source
        self._primary = primary
        self.routing = Routing(source, [Endpoint(s, backend, b) for s, b in replica_sources(source)])
        self.replicas = self.routing.replicas
        self._checker: threading.Thread | None = None
        self._checker_lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def fallbacks(self) -> int:
        """Reads that fell back to the primary because no replica could take them."""
        return self.routing.fallbacks

    # -- the read and write paths --------------------------------------------------------------

    def wrote(self) -> None:
        self.routing.wrote()

    def read(self, op: Op) -> Result:
        if self._checker is None:
            self._start_checker()
        replicas = self.routing.choices()
        if replicas is None:
            return self._primary.run(op)
        for replica in replicas:
            try:
                return self._read_on(replica, op)
            except SourceUnavailable:
                replica.breaker.failure()
        self.routing.fallbacks += 1
        return self._primary.run(op)

    def _read_on(self, replica: Endpoint, op: Op) -> Result:
        replica.enter()
        started = time.perf_counter()
        try:
            result = replica.run(op)
        finally:
            replica.leave()
        self.routing.served(replica, (time.perf_counter() - started) * 1000)
        return result

    # -- health and the checker ------------------------------------------------------------------

    def check(self, replica: Endpoint) -> Health:
        """One health check of ``replica``: it feeds the breaker and the lag the reads consult."""
        return self.routing.checked(replica, replica.check())

    def _start_checker(self) -> None:
        with self._checker_lock:
            if self._checker is None and not self._stop.is_set():
                self._checker = threading.Thread(
                    target=self._check_loop, name=f"dbplex-replicas-{self.source.name}", daemon=True
                )
                self._checker.start()

    def _check_loop(self) -> None:
        while not self._stop.wait(self.routing.interval):
            for replica in self.routing.due():
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
