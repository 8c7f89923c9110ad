"""The pool of a Redis Cluster source: dbplex's own slot map and one core pool per master.

The map comes from ``CLUSTER SLOTS`` (:mod:`dbplex_redis.cluster_map`), asked of a master
through its pool, or of the seeds when the source opens. Each master gets a
:class:`~dbplex.pooling.ConnectorPool` over the standalone backend's
:class:`~dbplex_redis.connector.RedisConnector`, so every ``pool`` setting, ``connect_timeout``,
the reconnect backoff and the error messages work per node exactly as for one server (a master
that is down fails fast while the others serve). dbplex sends nothing to replicas, so they get
no pool. The source's stats add the nodes up, including pools of nodes that left the map.

``hub.connection()`` yields a :class:`ClusterClient`: which node serves a key, and a checked-out
``redis.Redis`` of that node for native commands.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import DbplexError, SourceUnavailable, UnsupportedError
from dbplex.pool import PoolStats
from dbplex.pooling import ConnectorPool
from dbplex_redis.cluster_map import Node, SlotMap, parse_slots
from dbplex_redis.cluster_nodes import ClusterNodes, ClusterView
from dbplex_redis.connector import RedisConnector, connection_of


def no_transactions(source: Source) -> UnsupportedError:
    return UnsupportedError(
        f"source {source.name!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
        "commands inside them; use the redis.pipeline op with transaction=true (keys of one hash slot)"
    )


class RedisClusterPool(ClusterNodes[ConnectorPool[redis.Redis]]):
    """The :class:`dbplex.pool.Pool` of a ``redis+cluster://`` source; sizes and limits are per master."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.client = ClusterClient(self)
        try:
            self.refresh(force=True)
            self._opened()
        except BaseException:
            self.close()
            raise

    # -- node pools ------------------------------------------------------------------------------

    def pool_of(self, node: Node) -> ConnectorPool[redis.Redis]:
        """The pool of ``node``, made (and its first connection opened) when first needed."""
        with self._lock:
            pool = self._known(node)
        if pool is None:
            made = ConnectorPool(self.source, RedisConnector(self.source, self._node_args(node)))
            try:
                with self._lock:
                    pool = self._kept(node, made)
            finally:
                if pool is not made:
                    made.close()  # another thread made it first, or the source closed meanwhile
        return pool

    # -- the slot map ----------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Read the slot map again (after MOVED, or when a node failed: a replica may have taken over).

        Rate-limited unless ``force``; one thread refreshes at a time. Pools of nodes that are no
        longer masters are closed. While the source opens, failures are raised; later a refresh
        that reaches no node keeps the map it had.
        """
        opening, now = self.opening, time.monotonic()
        if not force and self._recent(now):
            return
        if not self._refresh_lock.acquire(blocking=not opening):
            return  # another thread refreshes right now
        try:
            self._refreshed_at = now
            fresh = self._read_map()
            if fresh is None:
                return
            with self._lock:
                gone = self._adopt(fresh)
            for pool in gone:
                pool.close()
            for node in fresh.masters:  # each master's pool, with its min_size opened now (a promoted replica too)
                with contextlib.suppress(SourceUnavailable):
                    self.pool_of(node)
        finally:
            self._refresh_lock.release()

    def _read_map(self) -> SlotMap | None:
        """``CLUSTER SLOTS`` from the first node that answers: the masters known, then the seeds."""
        last: BaseException | None = None
        for node in self._ask_order():
            try:
                with self.pool_of(node).connection() as client:
                    conn = connection_of(client)
                    conn.send_command("CLUSTER", "SLOTS")
                    return parse_slots(conn.read_response(), node)
            except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
                last = self._map_failed(exc)
        self._no_map(last)
        return None

    # -- the Pool protocol -----------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[ClusterClient]:
        if self._closed:
            raise self._closed_error()
        yield self.client

    def transaction(self) -> AbstractContextManager[ClusterClient]:
        raise no_transactions(self.source)

    def stats(self) -> PoolStats:
        with self._lock:
            return super().stats()

    def resize(self, min_size: int, max_size: int) -> None:
        """Every master's pool to ``min_size``..``max_size``."""
        self._min, self._max = min_size, max_size
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.resize(min_size, max_size)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __repr__(self) -> str:
        return f"RedisClusterPool(source={self.source.name!r}, url={self.source.redacted_url!r})"


class ClusterClient(ClusterView):
    """What ``hub.connection()`` yields for a cluster source: the slot map and the nodes' pools.

    >>> with hub.connection("sessions") as cluster:                       # doctest: +SKIP
    ...     with cluster.client("{user42}:cart") as node:   # a redis.Redis of the key's master
    ...         node.hgetall("{user42}:cart")
    """

    pool: RedisClusterPool

    @contextlib.contextmanager
    def client(self, key: Any = None, *, node: str | None = None) -> Iterator[redis.Redis]:
        """A checked-out ``redis.Redis`` of the master serving ``key`` (or of ``node``, ``host:port``;
        any master without either), given back when the block ends."""
        pool = self.pool
        target = pool.master(key, node)
        with pool.pool_of(target).connection() as client:
            yield client
