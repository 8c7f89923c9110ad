"""The pool of a Redis Cluster source: redis-py's ``RedisCluster`` with dbplex's counting pool per node.

redis-py keeps one connection pool per node; each one here is the standalone backend's
:class:`~dbplex_redis.pool.CountingPool`, so every ``pool`` setting, ``connect_timeout`` and the
error messages work per node as they do for one server (a node that is down fails fast during
its reconnection backoff while the others serve), and all nodes count into the source's one set
of counters.

redis-py opens a pool for every node it discovers, replicas included, though dbplex sends
nothing to replicas: their pools keep no minimum (``min_size`` applies to masters only, and is
re-applied after each topology refresh, so a promoted replica gets it), so no connection is
opened to a replica until something uses it. Closing the source closes the pools that exist and
creates none.
"""

# redis-py's cluster classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import weakref
from typing import Any
from urllib.parse import unquote

import msgspec
import redis.exceptions
from redis.cluster import ClusterNode, RedisCluster

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, DbplexError, SourceUnavailable, UnsupportedError
from dbplex.pool import PoolCounters, PoolStats
from dbplex.secrets import scrub
from dbplex_redis import cluster_url
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.pool import CountingPool, Lease, connection_kwargs, pool_kwargs, pool_stats

#: at most one topology refresh per this many seconds, however many ops see a node fail.
REFRESH_INTERVAL = 1.0


class ClusterClient(RedisCluster):
    """A ``RedisCluster`` that also tells dbplex which node pool serves a slot.

    It is what ``hub.connection()`` yields: use it as any ``RedisCluster`` (thread-safe and
    shared; do not close it).
    """

    def __init__(self, source: str, pools: weakref.WeakSet[CountingPool], min_size: int = 0, **kwargs: Any) -> None:
        self.dbplex_source = source
        self.dbplex_closed = False
        #: every node pool made for this client, including the seed's that redis-py drops once
        #: it knows the nodes: closing must reach them all (each runs a maintenance thread).
        self.dbplex_pools = pools
        #: the configured pool.min_size, which masters' pools keep (replicas' keep none).
        self.dbplex_min_size = min_size
        self._refreshed_at = 0.0
        self._refresh_lock = threading.Lock()
        super().__init__(**kwargs)

    def node_pool(self, slot: int | None) -> Any:
        """The connection pool of the node serving ``slot`` (the default node for None)."""
        if self.dbplex_closed:
            raise RedisSourceUnavailable(f"source {self.dbplex_source!r}: its pool is closed")
        try:
            node = self.get_default_node() if slot is None else self.nodes_manager.get_node_from_slot(slot)
        except redis.exceptions.SlotNotCoveredError:
            raise SourceUnavailable(
                f"source {self.dbplex_source!r}: hash slot {slot} is served by no node of the cluster now"
            ) from None
        return self.get_redis_connection(node).connection_pool

    def node_pools(self) -> list[tuple[ClusterNode, Any]]:
        """Every known node with its connection pool (opened when first asked)."""
        return [(node, self.get_redis_connection(node).connection_pool) for node in self.get_nodes()]

    def existing_pools(self) -> list[tuple[ClusterNode, Any]]:
        """The nodes that have a connection pool, with it; creates none."""
        return [(node, node.redis_connection.connection_pool) for node in self.get_nodes() if node.redis_connection]

    def apply_min_size(self, warm: bool = False) -> None:
        """``min_size`` on the masters' pools, none on the replicas'; with ``warm``, open the masters' now.

        A master that is down fails its own slots until it is back; the others serve meanwhile.
        """
        for node, pool in self.existing_pools():
            primary = node.server_type == "primary"
            pool.min_size = self.dbplex_min_size if primary else 0
            if warm and primary:
                with contextlib.suppress(SourceUnavailable):
                    pool.warm_up(self.dbplex_min_size)

    def refresh_topology(self, force: bool = False) -> None:
        """Read the slot map again (after MOVED, or when a node failed: a replica may have taken over).

        Rate-limited unless ``force``; a refresh that reaches no node keeps the map it had.
        """
        now = time.monotonic()
        if not force and now - self._refreshed_at < REFRESH_INTERVAL:
            return
        if not self._refresh_lock.acquire(blocking=False):
            return  # another thread refreshes right now
        try:
            self._refreshed_at = now
            before = self.existing_pools()
            self.nodes_manager.initialize()
            current = {id(pool) for _, pool in self.existing_pools()}
            for _, pool in before:  # nodes redis-py dropped: their pools go when the last op is done
                if id(pool) not in current:
                    pool.stop_maintenance()
            self.apply_min_size()  # a replica promoted to master gets min_size; a demoted master none
        except (redis.exceptions.RedisError, DbplexError, OSError):
            pass
        finally:
            self._refresh_lock.release()

    def close_pools(self) -> None:
        """Close every node pool that exists (creating none: closing must not open anything)."""
        self.dbplex_closed = True
        for pool in list(self.dbplex_pools):
            pool.close()


def _seed_source(source: Source, first: str) -> Source:
    """``source`` with the first seed's single-server URL, for the standalone backend's URL reading."""
    config = msgspec.structs.replace(source.config, url=first, replicas=[])
    return dataclasses.replace(source, config=config)


def _client(source: Source, counters: PoolCounters) -> ClusterClient:
    try:
        parsed = cluster_url.parse(source.url)
    except ValueError as exc:  # names no part of the userinfo; scrubbed all the same
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    if parsed.password:  # the whole password, even one that a URL parser cuts short at "/", "?" or "#"
        secrets.remember(parsed.password)
        secrets.remember(unquote(parsed.password))
    kwargs = connection_kwargs(_seed_source(source, parsed.first), counters)
    del kwargs["host"], kwargs["port"]  # each node pool gets its own
    if kwargs.pop("db", 0) != 0:
        raise ConfigError(f"source {source.name!r}: a Redis Cluster has only database 0; remove db= from the URL")
    # Every connection argument goes to the node pools directly: RedisCluster would drop those it does not know.
    # min_size 0 until the node is known to be a master (ClusterClient.apply_min_size).
    settings = {**pool_kwargs(source), "min_size": 0}
    made: weakref.WeakSet[CountingPool] = weakref.WeakSet()

    def node_pool(**node_kwargs: Any) -> CountingPool:
        pool = CountingPool(source=source.name, counters=counters, **settings, **{**kwargs, **node_kwargs})
        made.add(pool)
        return pool

    (host, port), *others = parsed.seeds
    return ClusterClient(
        source.name,
        made,
        min_size=source.config.pool.min_size,
        url=f"redis://{cluster_url.netloc(host, port)}",
        startup_nodes=[ClusterNode(h, p) for h, p in others],
        require_full_coverage=False,  # the slots of the nodes that are up stay usable when one is down
        connection_pool_class=node_pool,
    )


def _open_failed(source: Source, exc: redis.exceptions.RedisClusterException) -> DbplexError:
    """The one-line error for a cluster whose seeds did not let us read the slot map."""
    cause = exc.__cause__
    where = f"source {source.name!r}: {source.redacted_url}"
    if isinstance(cause, redis.exceptions.RedisClusterException) and "not enabled" in str(cause):
        return ConfigError(f"{where}: the seed is a Redis server without cluster mode; use a redis:// URL for it")
    if isinstance(cause, DbplexError):
        reason = str(cause).removeprefix(f"source {source.name!r}: ")
        return RedisSourceUnavailable(f"{where}: no seed node answered (last: {scrub(reason)})")
    return RedisSourceUnavailable(f"{where}: {scrub(str(cause or exc))}")


def _stop_maintenance(client: ClusterClient) -> None:
    """A cluster pool dropped unclosed: no more maintenance rounds on its nodes' pools."""
    for _, pool in client.existing_pools():
        pool.stop_maintenance()


class RedisClusterPool:
    """The :class:`dbplex.pool.Pool` of a ``redis+cluster://`` source; sizes and limits are per node."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.counters = PoolCounters()
        try:
            self.client = _client(source, self.counters)
        except redis.exceptions.RedisClusterException as exc:
            raise _open_failed(source, exc) from None
        self.client.apply_min_size(warm=True)
        self._lease = Lease(self.client)
        weakref.finalize(self, _stop_maintenance, self.client)

    def connection(self) -> Lease[ClusterClient]:
        return self._lease

    def transaction(self) -> Lease[ClusterClient]:
        raise UnsupportedError(
            f"source {self.source.name!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
            "commands inside them; use the redis.pipeline op with transaction=true (keys of one hash slot)"
        )

    def stats(self) -> PoolStats:
        """Connections summed over the nodes' pools (creating none); ``min`` and ``max`` are per master."""
        pools = [pool for _, pool in self.client.existing_pools()]
        max_size = pools[0].max_connections if pools else self.source.config.pool.max_size
        return pool_stats(self.source, self.counters, pools, self.client.dbplex_min_size, max_size)

    def resize(self, min_size: int, max_size: int) -> None:
        """Every node's pool to ``min_size``..``max_size`` (min_size on masters only; nodes found
        later start from the configuration)."""
        self.client.dbplex_min_size = min_size
        for node, pool in self.client.existing_pools():
            pool.resize(min_size if node.server_type == "primary" else 0, max_size)

    def close(self) -> None:
        self.client.close_pools()

    def __repr__(self) -> str:
        return f"RedisClusterPool(source={self.source.name!r}, url={self.source.redacted_url!r})"
