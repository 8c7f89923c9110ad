"""The asyncio pool of a Redis Cluster source: the twin of :mod:`dbplex_redis.cluster_pool`.

The same slot map and bookkeeping (:class:`~dbplex_redis.cluster_nodes.ClusterNodes`), with
one core :class:`~dbplex.pooling.async_pool.AsyncConnectorPool` per master over the standalone
backend's :class:`~dbplex_redis.aio_connector.AsyncRedisConnector`, so every ``pool`` setting,
cancellation and error works per node as for one server. Everything runs on the loop that
opened the pool; one task at a time reads the map again.

``hub.connection()`` yields an :class:`AsyncClusterClient`: which node serves a key, and a
checked-out ``redis.asyncio.Redis`` of that node for native commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import redis.asyncio
import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import DbplexError, SourceUnavailable
from dbplex.pooling.async_pool import AsyncConnectorPool
from dbplex_redis.aio_connector import AsyncRedisConnector, call, connection_of
from dbplex_redis.cluster_map import Node, SlotMap, parse_slots
from dbplex_redis.cluster_nodes import ClusterNodes, ClusterView
from dbplex_redis.cluster_pool import no_transactions


class AsyncRedisClusterPool(ClusterNodes[AsyncConnectorPool[redis.asyncio.Redis]]):
    """The :class:`dbplex.aio.AsyncPool` of a ``redis+cluster://`` source (``dbplex_async_pool``)."""

    def __init__(self, source: Source) -> None:
        super().__init__(source, asyncio=True)
        self.client = AsyncClusterClient(self)
        self._refreshing: asyncio.Lock | None = None

    async def open(self) -> None:
        """Read the slot map from the seeds and open each master's pool."""
        self._refreshing = asyncio.Lock()
        try:
            await self.refresh(force=True)
            self._opened()
        except BaseException:
            await self.aclose()
            raise

    async def pool_of(self, node: Node) -> AsyncConnectorPool[redis.asyncio.Redis]:
        """The pool of ``node``, made (and its first connection opened) when first needed."""
        pool = self._known(node)
        if pool is None:
            made = AsyncConnectorPool(self.source, AsyncRedisConnector(self.source, self._node_args(node)))
            await made.open()
            try:
                pool = self._kept(node, made)
            finally:
                if pool is not made:
                    await made.aclose()  # another task made it first, or the source closed meanwhile
        return pool

    async def refresh(self, force: bool = False) -> None:
        """Read the slot map again, as :meth:`RedisClusterPool.refresh <dbplex_redis.cluster_pool.RedisClusterPool.refresh>` does."""
        now, lock = time.monotonic(), self._refreshing
        if (not force and self._recent(now)) or lock is None or (lock.locked() and not self.opening):
            return  # another task refreshes right now
        async with lock:
            self._refreshed_at = now
            fresh = await self._read_map()
            if fresh is None:
                return
            for pool in self._adopt(fresh):
                await pool.aclose()
            for node in fresh.masters:  # each master's pool, with its min_size opened now
                with contextlib.suppress(SourceUnavailable):
                    await self.pool_of(node)

    async def _read_map(self) -> SlotMap | None:
        """``CLUSTER SLOTS`` from the first node that answers: the masters known, then the seeds."""
        last: BaseException | None = None
        for node in self._ask_order():
            try:
                async with (await self.pool_of(node)).connection() as client:
                    conn = connection_of(client)
                    return parse_slots(await call(conn, ["CLUSTER", "SLOTS"]), node)
            except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
                last = self._map_failed(exc)
        self._no_map(last)
        return None

    # -- the AsyncPool protocol --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncClusterClient]:
        if self._closed:
            raise self._closed_error()
        yield self.client

    def transaction(self) -> AbstractAsyncContextManager[AsyncClusterClient]:
        raise no_transactions(self.source)

    def resize(self, min_size: int, max_size: int) -> None:
        """Every master's pool to ``min_size``..``max_size``."""
        self._min, self._max = min_size, max_size
        for pool in list(self._pools.values()):
            pool.resize(min_size, max_size)

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    def __repr__(self) -> str:
        return f"AsyncRedisClusterPool(source={self.source.name!r}, url={self.source.redacted_url!r})"


class AsyncClusterClient(ClusterView):
    """What ``hub.connection()`` yields for a cluster source under asyncio: the slot map and the nodes' pools.

    >>> async with hub.connection("sessions") as cluster:                 # doctest: +SKIP
    ...     async with cluster.client("{user42}:cart") as node:  # a redis.asyncio.Redis of the key's master
    ...         await node.hgetall("{user42}:cart")
    """

    pool: AsyncRedisClusterPool

    @contextlib.asynccontextmanager
    async def client(self, key: Any = None, *, node: str | None = None) -> AsyncIterator[redis.asyncio.Redis]:
        """A checked-out ``redis.asyncio.Redis`` of the master serving ``key`` (or of ``node``,
        ``host:port``; any master without either), given back when the block ends."""
        pool = self.pool
        target = pool.master(key, node)
        async with (await pool.pool_of(target)).connection() as client:
            yield client
