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
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import unquote

import msgspec
import redis
import redis.exceptions

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, DbplexError, OpError, SourceUnavailable, UnsupportedError
from dbplex.pool import PoolStats
from dbplex.pooling import ConnectorPool
from dbplex.secrets import scrub
from dbplex_redis import cluster_url
from dbplex_redis.cluster_map import Node, SlotMap, parse_slots
from dbplex_redis.cluster_slots import slot
from dbplex_redis.connector import RedisConnector, client_kwargs, connection_of
from dbplex_redis.errors import RedisSourceUnavailable

log = logging.getLogger("dbplex.pool")
#: at most one slot-map refresh per this many seconds after a node failed (a MOVED forces one).
REFRESH_INTERVAL = 1.0
_COUNTERS = ("acquired", "timeouts", "errors", "created", "lost", "recycled", "leaks", "rejected")
_GAUGES = ("size", "idle", "used", "pending")


def _seed_source(source: Source, first: str) -> Source:
    """``source`` with the first seed's single-server URL, for the standalone backend's URL reading."""
    config = msgspec.structs.replace(source.config, url=first, replicas=[])
    return dataclasses.replace(source, config=config)


def _node_kwargs(source: Source) -> tuple[dict[str, Any], list[Node]]:
    """Connection arguments shared by every node (no host and port), and the seeds."""
    try:
        parsed = cluster_url.parse(source.url)
    except ValueError as exc:  # names no part of the userinfo; scrubbed all the same
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    if parsed.password:  # the whole password, even one that a URL parser cuts short at "/", "?" or "#"
        secrets.remember(parsed.password)
        secrets.remember(unquote(parsed.password))
    kwargs = client_kwargs(_seed_source(source, parsed.first))
    if kwargs.pop("db", 0) != 0:
        raise ConfigError(f"source {source.name!r}: a Redis Cluster has only database 0; remove db= from the URL")
    del kwargs["host"], kwargs["port"]
    return kwargs, [Node(host, port) for host, port in parsed.seeds]


def _add(total: PoolStats, part: PoolStats) -> None:
    for name in (*_GAUGES, *_COUNTERS):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for name in ("wait", "use", "create"):
        setattr(total, name, getattr(total, name).merged(getattr(part, name)))


class RedisClusterPool:
    """The :class:`dbplex.pool.Pool` of a ``redis+cluster://`` source; sizes and limits are per master."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.kwargs, self.seeds = _node_kwargs(source)
        self.slot_map = SlotMap()
        self._pools: dict[Node, ConnectorPool[redis.Redis]] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._refreshed_at = -float("inf")
        self._closed = False
        #: counters of node pools closed since (nodes that left the map), so that stats never go back.
        self._retired = PoolStats(source=source.name, backend=source.backend)
        self._min, self._max = source.config.pool.min_size, source.config.pool.max_size
        self.client = ClusterClient(self)
        #: the servers' command table (where each command's keys are), read when first needed.
        self.command_table: Any = None
        try:
            self.refresh(force=True)
            if not any(self.slot_map.owners):
                raise RedisSourceUnavailable(f"{self._where()}: no node serves any hash slot")
        except BaseException:
            self.close()
            raise

    def _where(self) -> str:
        return f"source {self.source.name!r}: {self.source.redacted_url}"

    # -- node pools ------------------------------------------------------------------------------

    def pool_of(self, node: Node) -> ConnectorPool[redis.Redis]:
        """The pool of ``node``, made (and its first connection opened) when first needed."""
        with self._lock:
            if self._closed:
                raise RedisSourceUnavailable(f"source {self.source.name!r}: its pool is closed")
            pool = self._pools.get(node)
        if pool is not None:
            return pool
        connector = RedisConnector(self.source, {**self.kwargs, "host": node.host, "port": node.port})
        made = ConnectorPool(self.source, connector)
        with self._lock:
            pool = self._pools.setdefault(node, made) if not self._closed else None
        if pool is not made:
            made.close()  # another thread made it first, or the source closed meanwhile
        if pool is None:
            raise RedisSourceUnavailable(f"source {self.source.name!r}: its pool is closed")
        return pool

    def node_of(self, slot_number: int) -> Node:
        """The master serving ``slot_number``; SourceUnavailable when the map names none."""
        node = self.slot_map.owners[slot_number]
        if node is None:
            raise SourceUnavailable(
                f"source {self.source.name!r}: hash slot {slot_number} is served by no node of the cluster now"
            )
        return node

    def any_master(self) -> Node:
        masters = self.slot_map.masters
        if not masters:
            raise SourceUnavailable(f"source {self.source.name!r}: the slot map names no master now")
        return masters[0]

    # -- the slot map ----------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Read the slot map again (after MOVED, or when a node failed: a replica may have taken over).

        Rate-limited unless ``force``; one thread refreshes at a time. Pools of nodes that are no
        longer masters are closed. While the source opens, failures are raised; later a refresh
        that reaches no node keeps the map it had.
        """
        opening = not any(self.slot_map.owners)
        now = time.monotonic()
        if not force and now - self._refreshed_at < REFRESH_INTERVAL:
            return
        if not self._refresh_lock.acquire(blocking=not opening):
            return  # another thread refreshes right now
        try:
            self._refreshed_at = now
            fresh = self._read_map()
            if fresh is None:
                return
            self.slot_map = fresh
            masters = set(fresh.masters)
            with self._lock:
                gone = [(node, pool) for node, pool in self._pools.items() if node not in masters]
                for node, _ in gone:
                    del self._pools[node]
            for _, pool in gone:
                _add(self._retired, pool.stats())
                pool.close()
            for node in masters:  # each master's pool, with its min_size opened now (a promoted replica too)
                with contextlib.suppress(SourceUnavailable):
                    self.pool_of(node)
        finally:
            self._refresh_lock.release()

    def _read_map(self) -> SlotMap | None:
        """``CLUSTER SLOTS`` from the first node that answers: the masters known, then the seeds."""
        opening = not any(self.slot_map.owners)
        last: BaseException | None = None
        for node in dict.fromkeys([*self.slot_map.masters, *self.seeds]):
            try:
                with self.pool_of(node).connection() as client:
                    conn = connection_of(client)
                    conn.send_command("CLUSTER", "SLOTS")
                    return parse_slots(conn.read_response(), node)
            except redis.exceptions.ResponseError as exc:
                if "cluster support disabled" in str(exc) or "not enabled" in str(exc):
                    raise ConfigError(
                        f"{self._where()}: the seed is a Redis server without cluster mode; use a redis:// URL for it"
                    ) from None
                last = exc
            except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
                last = exc
        if opening:
            reason = scrub(str(last)).removeprefix(f"source {self.source.name!r}: ")
            raise RedisSourceUnavailable(f"{self._where()}: no seed node answered (last: {reason})")
        log.warning("source %r: could not read the slot map again (%s)", self.source.name, scrub(str(last)))
        return None

    # -- the Pool protocol -----------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[ClusterClient]:
        if self._closed:
            raise RedisSourceUnavailable(f"source {self.source.name!r}: its pool is closed")
        yield self.client

    def transaction(self) -> AbstractContextManager[ClusterClient]:
        raise UnsupportedError(
            f"source {self.source.name!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
            "commands inside them; use the redis.pipeline op with transaction=true (keys of one hash slot)"
        )

    def stats(self) -> PoolStats:
        """The masters' pools added up (those closed since included in the counters). The bounds
        too: each master's pool keeps ``pool.min_size`` to ``pool.max_size``, so the source's
        ``min`` and ``max`` are those times the masters, and ``size`` never exceeds ``max``."""
        with self._lock:
            pools = list(self._pools.values())
        total = msgspec.structs.replace(self._retired, size=0, idle=0, used=0, pending=0)
        for pool in pools:
            _add(total, pool.stats())
        total.min, total.max = self._min * len(pools), self._max * len(pools)
        return total

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


class ClusterClient:
    """What ``hub.connection()`` yields for a cluster source: the slot map and the nodes' pools.

    >>> with hub.connection("sessions") as cluster:                       # doctest: +SKIP
    ...     with cluster.client("{user42}:cart") as node:   # a redis.Redis of the key's master
    ...         node.hgetall("{user42}:cart")
    """

    def __init__(self, pool: RedisClusterPool) -> None:
        #: the source's pool (its slot map and the masters' pools).
        self.pool = pool

    def node_for(self, key: Any) -> str:
        """``host:port`` of the master serving ``key``'s slot."""
        return self.pool.node_of(slot(key)).name

    def masters(self) -> list[str]:
        """``host:port`` of every master, in the order of their first slot."""
        return [node.name for node in self.pool.slot_map.masters]

    @contextlib.contextmanager
    def client(self, key: Any = None, *, node: str | None = None) -> Iterator[redis.Redis]:
        """A checked-out ``redis.Redis`` of the master serving ``key`` (or of ``node``, ``host:port``;
        any master without either), given back when the block ends."""
        pool = self.pool
        if node is not None:
            target = next((n for n in pool.slot_map.masters if n.name == node), None)
            if target is None:
                raise OpError(f"source {pool.source.name!r}: {node} is no master of the cluster now")
        else:
            target = pool.any_master() if key is None else pool.node_of(slot(key))
        with pool.pool_of(target).connection() as client:
            yield client
