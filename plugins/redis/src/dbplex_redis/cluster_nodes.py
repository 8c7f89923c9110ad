"""What the sync and asyncio pools of a Redis Cluster source share: the slot map, one pool per
master, and the decisions about them (no I/O here).

:class:`~dbplex_redis.cluster_pool.RedisClusterPool` and
:class:`~dbplex_redis.aio_cluster_pool.AsyncRedisClusterPool` subclass :class:`ClusterNodes`
and do the I/O: opening and closing node pools, asking ``CLUSTER SLOTS``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import unquote

import msgspec
import redis.exceptions

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, OpError
from dbplex.pool import PoolStats
from dbplex.secrets import scrub
from dbplex_redis import cluster_url
from dbplex_redis.cluster_follow import owner
from dbplex_redis.cluster_map import Node, SlotMap
from dbplex_redis.cluster_slots import slot
from dbplex_redis.connector import client_kwargs
from dbplex_redis.errors import RedisSourceUnavailable

log = logging.getLogger("dbplex.pool")
#: at most one slot-map refresh per this many seconds after a node failed (a MOVED forces one).
REFRESH_INTERVAL = 1.0
_COUNTERS = ("acquired", "timeouts", "errors", "created", "lost", "recycled", "leaks", "rejected")
_GAUGES = ("size", "idle", "used", "pending")


class NodePool(Protocol):
    def stats(self) -> PoolStats: ...


P = TypeVar("P", bound=NodePool)


def _seed_source(source: Source, first: str) -> Source:
    """``source`` with the first seed's single-server URL, for the standalone backend's URL reading."""
    config = msgspec.structs.replace(source.config, url=first, replicas=[])
    return dataclasses.replace(source, config=config)


def node_kwargs(source: Source, asyncio: bool = False) -> tuple[dict[str, Any], list[Node]]:
    """Connection arguments shared by every node (no host and port), and the seeds; with
    ``asyncio``, those of ``redis.asyncio`` (see :func:`~dbplex_redis.connector.client_kwargs`)."""
    try:
        parsed = cluster_url.parse(source.url)
    except ValueError as exc:  # names no part of the userinfo; scrubbed all the same
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    if parsed.password:  # the whole password, even one that a URL parser cuts short at "/", "?" or "#"
        secrets.remember(parsed.password)
        secrets.remember(unquote(parsed.password))
    kwargs = client_kwargs(_seed_source(source, parsed.first), asyncio=asyncio)
    if kwargs.pop("db", 0) != 0:
        raise ConfigError(f"source {source.name!r}: a Redis Cluster has only database 0; remove db= from the URL")
    del kwargs["host"], kwargs["port"]
    return kwargs, [Node(host, port) for host, port in parsed.seeds]


def _add(total: PoolStats, part: PoolStats) -> None:
    for name in (*_GAUGES, *_COUNTERS):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for name in ("wait", "use", "create"):
        setattr(total, name, getattr(total, name).merged(getattr(part, name)))


class ClusterNodes(Generic[P]):
    """The slot map and the masters' pools of one cluster source (sizes and limits are per master)."""

    def __init__(self, source: Source, asyncio: bool = False) -> None:
        self.source = source
        self.kwargs, self.seeds = node_kwargs(source, asyncio)
        self.slot_map = SlotMap()
        self._pools: dict[Node, P] = {}
        self._refreshed_at = -float("inf")
        self._closed = False
        #: counters of node pools closed since (nodes that left the map), so that stats never go back.
        self._retired = PoolStats(source=source.name, backend=source.backend)
        self._min, self._max = source.config.pool.min_size, source.config.pool.max_size
        #: the servers' command table (where each command's keys are), read when first needed.
        self.command_table: Any = None

    def _where(self) -> str:
        return f"source {self.source.name!r}: {self.source.redacted_url}"

    def _closed_error(self) -> RedisSourceUnavailable:
        return RedisSourceUnavailable(f"source {self.source.name!r}: its pool is closed")

    def _known(self, node: Node) -> P | None:
        """The pool of ``node`` if made already; SourceUnavailable once the source is closed."""
        if self._closed:
            raise self._closed_error()
        return self._pools.get(node)

    def _node_args(self, node: Node) -> dict[str, Any]:
        return {**self.kwargs, "host": node.host, "port": node.port}

    def _kept(self, node: Node, made: P) -> P:
        """The pool ``node`` keeps: ``made``, or one made meanwhile; SourceUnavailable if the source
        closed meanwhile (the caller closes ``made`` unless it is kept)."""
        if self._closed:
            raise self._closed_error()
        return self._pools.setdefault(node, made)

    def node_of(self, slot_number: int) -> Node:
        """The master serving ``slot_number``; SourceUnavailable when the map names none."""
        return owner(self.slot_map, self.source.name, slot_number)

    def any_master(self) -> Node:
        return owner(self.slot_map, self.source.name, None)

    def master(self, key: Any = None, node: str | None = None) -> Node:
        """The master serving ``key``'s slot, or the one named ``node`` (``host:port``), or any master."""
        if node is None:
            return self.any_master() if key is None else self.node_of(slot(key))
        target = next((n for n in self.slot_map.masters if n.name == node), None)
        if target is None:
            raise OpError(f"source {self.source.name!r}: {node} is no master of the cluster now")
        return target

    @property
    def opening(self) -> bool:
        """Whether no map was read yet (the source is opening: failures are raised)."""
        return not any(self.slot_map.owners)

    def _recent(self, now: float) -> bool:
        """Whether the map was read less than :data:`REFRESH_INTERVAL` ago (an unforced refresh waits)."""
        return now - self._refreshed_at < REFRESH_INTERVAL

    def _ask_order(self) -> list[Node]:
        """Whom ``CLUSTER SLOTS`` is asked of, in turn: the masters known, then the seeds."""
        return list(dict.fromkeys([*self.slot_map.masters, *self.seeds]))

    def _map_failed(self, exc: BaseException) -> BaseException:
        """Why a node did not give the map (the next is asked); ConfigError when ``CLUSTER SLOTS``
        was refused because the node is no cluster node."""
        refused = isinstance(exc, redis.exceptions.ResponseError)
        if refused and ("cluster support disabled" in str(exc) or "not enabled" in str(exc)):
            raise ConfigError(
                f"{self._where()}: the seed is a Redis server without cluster mode; use a redis:// URL for it"
            ) from None
        return exc

    def _no_map(self, last: BaseException | None) -> None:
        """No node answered ``CLUSTER SLOTS``: raised while opening, else logged (the map stays)."""
        if self.opening:
            reason = scrub(str(last)).removeprefix(f"source {self.source.name!r}: ")
            raise RedisSourceUnavailable(f"{self._where()}: no seed node answered (last: {reason})")
        log.warning("source %r: could not read the slot map again (%s)", self.source.name, scrub(str(last)))

    def _adopt(self, fresh: SlotMap) -> list[P]:
        """Take ``fresh`` as the map; the pools of nodes no longer masters, for the caller to close."""
        self.slot_map = fresh
        masters = set(fresh.masters)
        gone = [node for node in self._pools if node not in masters]
        retired = [self._pools.pop(node) for node in gone]
        for pool in retired:
            _add(self._retired, pool.stats())
        return retired

    def _opened(self) -> None:
        if self.opening:
            raise RedisSourceUnavailable(f"{self._where()}: no node serves any hash slot")

    def stats(self) -> PoolStats:
        """The masters' pools added up (those closed since included in the counters). The bounds
        too: each master's pool keeps ``pool.min_size`` to ``pool.max_size``, so the source's
        ``min`` and ``max`` are those times the masters, and ``size`` never exceeds ``max``."""
        pools = list(self._pools.values())
        total = msgspec.structs.replace(self._retired, size=0, idle=0, used=0, pending=0)
        for pool in pools:
            _add(total, pool.stats())
        total.min, total.max = self._min * len(pools), self._max * len(pools)
        return total


class ClusterView:
    """What ``hub.connection()`` yields for a cluster source shares: which master serves a key, and the masters."""

    def __init__(self, pool: ClusterNodes[Any]) -> None:
        #: the source's pool (its slot map and the masters' pools).
        self.pool = pool

    def node_for(self, key: Any) -> str:
        """``host:port`` of the master serving ``key``'s slot."""
        return self.pool.node_of(slot(key)).name

    def masters(self) -> list[str]:
        """``host:port`` of every master, in the order of their first slot."""
        return [node.name for node in self.pool.slot_map.masters]
