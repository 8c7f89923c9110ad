"""``dbplex.open_async(config)``: the asyncio twin of :class:`dbplex.Hub`.

The same configuration, ops, :class:`~dbplex.result.Result`, errors and pool stats; each backend
runs the same plans through its ``dbplex_async_*`` hooks on its native async driver, never on a
thread. A source whose backend has no async executor is refused when used, naming the backend.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from dbplex import config as config_mod
from dbplex import plugins as plugins_mod
from dbplex.aio.pool import AsyncPool
from dbplex.backends import Backend, Source
from dbplex.binding import AsyncBound, failed, unanswered, unchecked
from dbplex.config import Config
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.health import Health, Report, Status, aggregate
from dbplex.ops import Op
from dbplex.plugins import Plugins
from dbplex.pool import PoolStats
from dbplex.result import Result


class _Endpoint:
    """A source's asyncio pool, opened on first use (a failed open is not cached)."""

    __slots__ = ("_lock", "_query", "aio", "pool", "source")

    def __init__(self, source: Source, aio: AsyncBound) -> None:
        self.source = source
        self.aio = aio
        self._query = aio.run
        self.pool: AsyncPool | None = None
        self._lock: asyncio.Lock | None = None

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
                raise _unsupported_op(source, op)
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


def _unsupported_op(source: Source, op: Op) -> UnsupportedError:
    return UnsupportedError(f"source {source.name!r}: backend {source.backend!r} does not run {type(op).__name__} ops")


class AsyncTransaction:
    """Ops run on one connection inside one transaction (see :meth:`AsyncHub.transaction`)."""

    def __init__(self, endpoint: _Endpoint, conn: Any) -> None:
        self._endpoint = endpoint
        #: the native async driver connection (or session) the transaction runs on.
        self.conn = conn

    async def execute(self, op: Op) -> Result:
        endpoint = self._endpoint
        running = endpoint.aio.run(source=endpoint.source, conn=self.conn, op=op)
        if running is None:
            raise _unsupported_op(endpoint.source, op)
        return await running


class AsyncHub:
    """Every configured source behind one object, for asyncio applications.

    Use it as ``async with dbplex.open_async(...) as hub``, or call :meth:`aclose`. Pools open
    lazily on the loop that first uses them; a hub serves one event loop.
    """

    def __init__(self, config: Config, plugins: Plugins) -> None:
        self.config = config
        self.plugins = plugins
        self._sources: dict[str, Source] = {}
        self._backends: dict[str, Backend] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        #: why a source cannot be used asynchronously, by name (its backend has no async executor, ...).
        self._refused: dict[str, UnsupportedError] = {}
        for name, source_config in config.sources.items():
            source = plugins.source(name, source_config)
            bound = plugins.hooks_for(source.backend)
            self._sources[name] = source
            self._backends[name] = bound.backend
            if bound.aio is None:
                self._refused[name] = UnsupportedError(
                    f"source {name!r}: backend {bound.backend.name!r} ({bound.backend.package or 'its plugin'}) "
                    "has no asyncio executor (its plugin implements no dbplex_async_query hook); "
                    "use dbplex.open() for this source"
                )
            elif source_config.replicas:
                self._refused[name] = UnsupportedError(
                    f"source {name!r}: the asyncio hub does not route to replicas yet; use dbplex.open() for this "
                    "source, or configure it without replicas"
                )
            else:
                self._endpoints[name] = _Endpoint(source, bound.aio)

    # -- lookup -------------------------------------------------------------------------------

    @property
    def sources(self) -> Mapping[str, Source]:
        return dict(self._sources)

    def backend(self, source: str) -> Backend:
        """The backend serving ``source``."""
        self._known(source)
        return self._backends[source]

    def _known(self, source: str) -> None:
        if source not in self._sources:
            known = ", ".join(sorted(self._sources)) or "none configured"
            raise ConfigError(f"unknown source {source!r} (configured: {known})")

    def _get(self, source: str) -> _Endpoint:
        endpoint = self._endpoints.get(source)
        if endpoint is None:
            self._known(source)
            raise self._refused[source]
        return endpoint

    async def pool(self, source: str) -> AsyncPool:
        """The asyncio pool of ``source``, opening it if needed."""
        return await self._get(source).open()

    # -- operations -----------------------------------------------------------------------------

    async def execute(self, source: str, op: Op) -> Result:
        """Run one op on a pooled connection of ``source``."""
        return await (self._endpoints.get(source) or self._get(source)).run(op)

    @asynccontextmanager
    async def connection(self, source: str) -> AsyncIterator[Any]:
        """Check out ``source``'s native async driver object for direct use."""
        async with (await self.pool(source)).connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, source: str) -> AsyncIterator[AsyncTransaction]:
        """Run several ops atomically: commit when the block ends, roll back if it raises."""
        endpoint = self._get(source)
        backend = self._backends[source]
        if "transactions" not in backend.capabilities:
            raise UnsupportedError(f"source {source!r}: backend {backend.name!r} has no transactions")
        async with (await endpoint.open()).transaction() as conn:
            yield AsyncTransaction(endpoint, conn)

    # -- observation ----------------------------------------------------------------------------

    async def health(self, sources: list[str] | None = None) -> Report:
        """Check sources concurrently; a check that outlasts its connect timeout (plus a second) is DOWN."""
        names = sources if sources is not None else list(self._sources)
        for name in names:
            self._known(name)
        return aggregate(list(await asyncio.gather(*(self._check(name) for name in names))))

    async def _check(self, name: str) -> Health:
        source = self._sources[name]
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            health = failed(source, self._refused[name])
            health.status = Status.UNKNOWN
        else:
            limit = source.config.connect_timeout + 1.0
            try:
                health = await asyncio.wait_for(endpoint.check(), limit)
            except asyncio.TimeoutError:
                return unanswered(source, limit)
            if health.pool is None and endpoint.pool is not None:
                health.pool = endpoint.pool.stats()
        health.required = source.config.required
        return health

    def pool_stats(self) -> dict[str, PoolStats]:
        """Stats of every pool opened so far, by source name."""
        return {name: e.pool.stats() for name, e in self._endpoints.items() if e.pool is not None}

    # -- lifetime -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every pool (awaiting their closes). Further use opens them again."""
        await asyncio.gather(*(endpoint.aclose() for endpoint in self._endpoints.values()))

    async def __aenter__(self) -> AsyncHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncHub(sources={sorted(self._sources)})"


def open_async(
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    plugins: Plugins | None = None,
) -> AsyncHub:
    """Open every source described by ``config`` for asyncio use (no I/O: pools open on first use).

    ``config`` and ``plugins`` as for :func:`dbplex.open`.
    """
    return AsyncHub(config_mod.resolve(config), plugins if plugins is not None else plugins_mod.default())
