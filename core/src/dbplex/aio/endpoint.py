"""One asyncio pool of a source — the primary's or a replica's — with what routing tracks of it."""

from __future__ import annotations

import asyncio
import time

from dbplex.aio.pool import AsyncPool
from dbplex.backends import Role, Source
from dbplex.binding import AsyncBound, failed, unchecked
from dbplex.errors import UnsupportedError
from dbplex.health import Health, Status
from dbplex.ops import Op
from dbplex.result import Result
from dbplex.routing.breaker import Breaker


class AsyncEndpoint:
    """A source's asyncio pool, opened on first use (a failed open is not cached): the twin of
    :class:`dbplex.binding.Endpoint`, with the same breaker, in-flight count, latency and lag."""

    __slots__ = (
        "_lock",
        "_query",
        "aio",
        "breaker",
        "in_flight",
        "lag_seconds",
        "latency_ms",
        "pool",
        "role",
        "source",
    )

    def __init__(self, source: Source, aio: AsyncBound, breaker: Breaker) -> None:
        self.source = source
        self.role: Role = source.role
        self.aio = aio
        self._query = aio.run
        self.pool: AsyncPool | None = None
        self._lock: asyncio.Lock | None = None
        #: opened by failed reads and checks (replicas; the primary's is never consulted).
        self.breaker = breaker
        self.in_flight = 0
        #: moving average of routed reads' latency (replicas).
        self.latency_ms = 0.0
        #: the lag the last health check reported; None when unknown.
        self.lag_seconds: float | None = None

    @property
    def name(self) -> str:
        return self.source.name

    async def open(self) -> AsyncPool:
        if self.pool is not None:
            return self.pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.pool is None:
                pool = self.aio.pool(self.source)
                await pool.open()
                self.pool = pool
            return self.pool

    async def run(self, op: Op) -> Result:
        """Check a connection out and run ``op`` on it: the hot path."""
        source = self.source
        async with (self.pool or await self.open()).connection() as conn:
            running = self._query(source=source, conn=conn, op=op)
            if running is None:
                raise unsupported_op(source, op)
            return await running

    async def check(self) -> Health:
        """As :meth:`dbplex.binding.Endpoint.check`: latency on an open connection, ``connect_ms``
        when the check had to open the pool."""
        fresh = self.pool is None or self.pool.stats().size == 0
        started = time.perf_counter()
        health = await self._probe()
        if fresh and health.status is not Status.DOWN:
            connect_ms = round((time.perf_counter() - started) * 1000, 3)
            started = time.perf_counter()
            health = await self._probe()
            health.connect_ms = connect_ms
        health.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        return health

    async def _probe(self) -> Health:
        try:
            checking = self.aio.health(self.source, self.pool or await self.open())
            return unchecked(self.source) if checking is None else await checking
        except Exception as exc:  # a health check reports failures, it does not raise them
            return failed(self.source, exc)

    async def aclose(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.aclose()

    def __repr__(self) -> str:
        return f"AsyncEndpoint({self.source.name!r}, role={self.role!r})"


def unsupported_op(source: Source, op: Op) -> UnsupportedError:
    return UnsupportedError(f"source {source.name!r}: backend {source.backend!r} does not run {type(op).__name__} ops")
