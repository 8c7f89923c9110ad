"""``dbplex.open_async(config)``: the asyncio twin of :class:`dbplex.Hub`.

The same configuration, ops, :class:`~dbplex.result.Result`, errors and pool stats; each backend
runs the same plans through its ``dbplex_async_*`` hooks on its native async driver, never on a
thread. A source whose backend has no async executor is refused when used, naming the backend.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from dbplex import config as config_mod
from dbplex import plugins as plugins_mod
from dbplex.aio import cancellation
from dbplex.aio.endpoint import AsyncEndpoint, unsupported_op
from dbplex.aio.pool import AsyncPool
from dbplex.aio.router import AsyncRouter
from dbplex.backends import Backend, Source
from dbplex.binding import failed, unanswered
from dbplex.cache.protocol import records_written
from dbplex.changes.watching import Limits, Watching
from dbplex.config import Config
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.health import Health, Report, Status, aggregate
from dbplex.ops import Op
from dbplex.plugins import Plugins
from dbplex.pool import PoolStats
from dbplex.result import Result
from dbplex.routing.router import breaker

if TYPE_CHECKING:
    from dbplex.aio.partitioned import AsyncPartitioned
    from dbplex.aio.watch import AsyncWatch
    from dbplex.cache.aio import AsyncReadThroughCache
    from dbplex.metrics.recorder import MetricsPlugin
    from dbplex.partition.backend import AsyncPartitionReader
    from dbplex.partition.spec import PartitionSpec
    from dbplex.slowlog.model import SlowEntry
    from dbplex.slowlog.recorder import SlowPlugin


class AsyncTransaction:
    """Ops run on one connection inside one transaction (see :meth:`AsyncHub.transaction`)."""

    def __init__(self, endpoint: AsyncEndpoint, conn: Any) -> None:
        self._endpoint = endpoint
        #: the native async driver connection (or session) the transaction runs on.
        self.conn = conn
        #: (table, key) of each record written, whose cache entries the hub deletes after the commit.
        self.written: list[tuple[str, str]] = []

    async def execute(self, op: Op) -> Result:
        self.written.extend(records_written(op))
        endpoint = self._endpoint
        running = endpoint.aio.run(source=endpoint.source, conn=self.conn, op=op)
        if running is None:
            raise unsupported_op(endpoint.source, op)
        return await running


class AsyncHub(Watching["AsyncWatch"]):
    """Every configured source behind one object, for asyncio applications.

    Use it as ``async with dbplex.open_async(...) as hub``, or call :meth:`aclose`. Pools open
    lazily on the loop that first uses them; a hub serves one event loop.
    """

    def __init__(self, config: Config, plugins: Plugins) -> None:
        self.config = config
        self.plugins = plugins
        self._sources: dict[str, Source] = {}
        self._backends: dict[str, Backend] = {}
        self._endpoints: dict[str, AsyncEndpoint] = {}
        #: the read router of each source with replicas.
        self._routers: dict[str, AsyncRouter] = {}
        #: why a source cannot be used asynchronously, by name (its backend has no async executor, ...).
        self._refused: dict[str, UnsupportedError] = {}
        #: partition readers by source, made on first use (see :meth:`partitioned`).
        self._readers: dict[str, AsyncPartitionReader] = {}
        #: the operation metrics of this hub's sources (the sync hub's recorder, in the same
        #: series); None when ``[metrics]`` is off.
        self.metrics: MetricsPlugin | None = None
        if config.metrics.enabled:
            from dbplex.metrics.recorder import MetricsPlugin

            # registered before the hooks are bound, so that the bound query hook includes it
            self.metrics = MetricsPlugin()
            plugins.manager.register(self.metrics)
        #: the slow-operation recorder of this hub's sources (as the sync hub's); None when no
        #: source has a ``slow.threshold_ms``.
        self.slow: SlowPlugin | None = None
        if any(s.slow.threshold_ms is not None for s in config.sources.values()):
            from dbplex.slowlog.recorder import SlowPlugin

            self.slow = SlowPlugin()
            plugins.manager.register(self.slow)
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
            else:
                endpoint = self._endpoints[name] = AsyncEndpoint(source, bound.aio, breaker(source, "primary"))
                if source_config.replicas:
                    self._routers[name] = AsyncRouter(source, endpoint, bound.aio)
        if self.slow is not None:
            self.slow.watch(e.source for e in self._all())
        if self.metrics is not None:
            self.metrics.watch(e.source for e in self._all())
            if config.metrics.otel:
                from dbplex.metrics.otel import record_into_otel

                record_into_otel(self)
        #: the read-through cache (``[cache]``), sharing the sync hub's entries, leases and
        #: counts; None when it names no tables.
        self.cache: AsyncReadThroughCache | None = None
        if config.cache.tables:
            from dbplex.cache.aio import AsyncReadThroughCache

            self.cache = AsyncReadThroughCache(self, config.cache)

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

    def _get(self, source: str) -> AsyncEndpoint:
        endpoint = self._endpoints.get(source)
        if endpoint is None:
            self._known(source)
            raise self._refused[source]
        return endpoint

    async def pool(self, source: str) -> AsyncPool:
        """The asyncio pool of ``source``, opening it if needed."""
        return await self._get(source).open()

    # -- operations -----------------------------------------------------------------------------

    async def execute(self, source: str, op: Op, *, read: bool | None = None) -> Result:
        """Run one op on a pooled connection of ``source``.

        When ``source`` has replicas, reads are routed as by :meth:`dbplex.Hub.execute`: a read
        (``op.is_read``, or ``read=True``) goes to a replica, ``read=False`` forces the primary.
        A ``Get`` of a table in ``[cache]`` is served by the read-through cache, and a ``Put``,
        ``Update`` or ``Delete`` of one deletes its entry once the source has it.
        """
        cache = self.cache
        if cache is not None and source in cache.sources:
            return await cache.execute(source, op, read)
        return await self.execute_uncached(source, op, read=read)

    async def execute_uncached(self, source: str, op: Op, *, read: bool | None = None) -> Result:
        """:meth:`execute` without the read-through cache: the source itself answers, and no
        cache entry is deleted."""
        endpoint = self._endpoints.get(source) or self._get(source)
        router = self._routers.get(source)
        if router is None:
            return await endpoint.run(op)
        if op.is_read if read is None else read:
            return await router.read(op)
        result = await endpoint.run(op)
        router.wrote()
        return result

    @asynccontextmanager
    async def connection(self, source: str) -> AsyncIterator[Any]:
        """Check out ``source``'s native async driver object for direct use."""
        async with (await self.pool(source)).connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, source: str) -> AsyncIterator[AsyncTransaction]:
        """Run several ops atomically: commit when the block ends, roll back if it raises. After
        the commit, the cache entries of the records its ``Put``, ``Update`` and ``Delete`` wrote
        are deleted."""
        endpoint = self._get(source)
        backend = self._backends[source]
        if "transactions" not in backend.capabilities:
            raise UnsupportedError(f"source {source!r}: backend {backend.name!r} has no transactions")
        async with (await endpoint.open()).transaction() as conn:
            done = AsyncTransaction(endpoint, conn)
            yield done
        router = self._routers.get(source)
        if router is not None:
            router.wrote()
        if self.cache is not None:
            await self.cache.invalidate_written(source, done.written)

    # -- partitions -----------------------------------------------------------------------------

    def partitioned(self, spec: str | PartitionSpec) -> AsyncPartitioned:
        """A partitioned target to query: a ``[partitions.NAME]`` of the configuration, or a
        :class:`~dbplex.partition.PartitionSpec`, as :meth:`dbplex.Hub.partitioned` takes.

        Raises :class:`~dbplex.errors.UnsupportedError` when the source's backend has no
        ``dbplex_async_partition`` hook (query it through :func:`dbplex.open`).
        """
        from dbplex.aio.partitioned import AsyncPartitioned
        from dbplex.partition.api import configured

        spec = configured(self.config, spec)
        endpoint = self._get(spec.source)
        reader = self._readers.get(spec.source)
        if reader is None:
            reader = self._readers[spec.source] = endpoint.aio.partition_reader(endpoint.source)
        return AsyncPartitioned(spec, reader, endpoint)

    # -- changes --------------------------------------------------------------------------------

    def _watch(self, source: str, tables: list[str], after: str | None, limits: Limits) -> AsyncWatch:
        from dbplex.aio.watch import AsyncWatch

        endpoint = self._get(source)
        return AsyncWatch(endpoint.aio.change_feed(endpoint.source), endpoint, tables, after, limits)

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
                health = await cancellation.wait_for(endpoint.check(), limit)
            except asyncio.TimeoutError:
                return unanswered(source, limit)
            if health.pool is None and endpoint.pool is not None:
                health.pool = endpoint.pool.stats()
            router = self._routers.get(name)
            if router is not None:
                health.replicas = list(await asyncio.gather(*(router.check(r) for r in router.replicas)))
                if health.status is Status.UP and any(r.status is not Status.UP for r in health.replicas):
                    health.status = Status.DEGRADED
        health.required = source.config.required
        return health

    def _all(self) -> list[AsyncEndpoint]:
        """Every endpoint: each source's primary, and its replicas."""
        replicas = [replica for router in self._routers.values() for replica in router.replicas]
        return [*self._endpoints.values(), *replicas]

    def slow_operations(self) -> list[SlowEntry]:
        """The latest slow operations of this hub's sources, oldest first, as :meth:`dbplex.Hub.slow_operations`."""
        return self.slow.entries() if self.slow is not None else []

    def pool_stats(self) -> dict[str, PoolStats]:
        """Stats of every pool opened so far, by name: the source's own, a replica's as ``source/replicaN``."""
        return {e.name: e.pool.stats() for e in self._all() if e.pool is not None}

    async def resize(self, source: str, min_size: int, max_size: int) -> None:
        """Change the pool bounds of ``source`` (and of its opened replicas' pools) while it runs,
        as :meth:`dbplex.Hub.resize` does."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(f"source {source!r}: resize needs 0 <= min_size <= max_size and max_size >= 1")
        endpoint = self._get(source)
        router = self._routers.get(source)
        replicas = [r.pool for r in router.replicas if r.pool is not None] if router is not None else []
        for pool in [await endpoint.open(), *replicas]:
            resize = getattr(pool, "resize", None)  # a backend's own async pool may have none
            if resize is None:
                raise UnsupportedError(
                    f"source {source!r}: backend {endpoint.source.backend!r} cannot resize its asyncio pool"
                )
            resize(min_size, max_size)

    # -- lifetime -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every pool (awaiting their closes). Further use opens them again."""
        if self.metrics is not None and self.plugins.manager.is_registered(self.metrics):
            self.plugins.manager.unregister(self.metrics)  # later hubs bind without it
        if self.slow is not None and self.plugins.manager.is_registered(self.slow):
            self.plugins.manager.unregister(self.slow)
        await asyncio.gather(*(router.aclose() for router in self._routers.values()))
        await asyncio.gather(*(endpoint.aclose() for endpoint in self._all()))

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
