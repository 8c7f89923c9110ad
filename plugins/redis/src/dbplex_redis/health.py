"""The health check of a Redis source: one round trip for ``INFO server``, ``INFO replication``,
``ROLE`` and the ``INFO`` sections of its resources (``clients``, ``memory``, ``stats``, ``keyspace``).

Resources (:class:`dbplex.health.Resources`): ``connected_clients`` split into ``blocked`` and
``other``, ``maxclients``, ``used_memory``, ``keyspace_hits`` and ``keyspace_misses`` as the
cache counters, ``total_commands_processed`` as the ``command`` operations, and on a master each
replica's ``lag`` (seconds since its last acknowledgement). Redis keeps no per-database size on
disk, so ``database_bytes`` stays None; the keyspace's key counts go in ``extra``.

A replica's lag is how long ago it last heard from its master while the link is up (Redis
pings replicas every ``repl-ping-replica-period``, 10 s by default), and how long the link has
been down otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.health import Health, Resources, Status
from dbplex.pool import Pool, PoolStats
from dbplex_redis.connector import connection_of
from dbplex_redis.errors import RedisSourceUnavailable, address, connection_lost
from dbplex_redis.execute import replies
from dbplex_redis.translate import decode_reply, parse_info

#: what a health check sends, in one round trip: the server's version and mode, its replication
#: state and role, and the ``INFO`` sections its resources come from.
HEALTH_COMMANDS: list[tuple[Any, ...]] = [("INFO", "server"), ("INFO", "replication"), ("ROLE",)] + [
    ("INFO", section) for section in ("clients", "memory", "stats", "keyspace")
]


def _lag(replication: dict[str, Any]) -> float | None:
    """Seconds a replica is behind, from ``INFO replication``; None on a master."""
    if replication.get("role") != "slave":
        return None
    if replication.get("master_link_status") == "up":
        return float(replication.get("master_last_io_seconds_ago", 0))
    return float(replication.get("master_link_down_since_seconds", "inf"))


def ask(source: Source, client: redis.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Replies to ``commands`` sent in one round trip on a checked-out client, waiting at most
    ``connect_timeout`` for them; an error reply (e.g. an ACL refusing INFO) is kept as the exception."""
    timeout = source.config.connect_timeout
    where = address(client.connection_pool.connection_kwargs)
    try:
        conn = connection_of(client)
        conn.send_packed_command(conn.pack_commands(commands))
        if not conn.can_read(timeout=timeout):  # the replies may still come: the pool discards the connection
            raise RedisSourceUnavailable(f"source {source.name!r}: {where} did not answer within {timeout:g}s")
        return replies(conn, len(commands))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise connection_lost(source.name, where, exc) from None


#: ``INFO`` fields kept in ``Resources.extra`` as they are (numbers), when the server reports them.
_EXTRA = (
    "used_memory_rss",
    "used_memory_peak",
    "maxmemory",
    "mem_fragmentation_ratio",
    "evicted_keys",
    "expired_keys",
    "rejected_connections",
    "total_connections_received",
    "instantaneous_ops_per_sec",
)


def _number(text: str | None) -> int | float | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def resources(info: dict[str, str]) -> Resources:
    """The resources part of the merged ``INFO`` sections (fields a server lacks stay None)."""
    connected, blocked = _number(info.get("connected_clients")), _number(info.get("blocked_clients"))
    by_state = {}
    if isinstance(connected, int) and isinstance(blocked, int):
        by_state = {"blocked": blocked, "other": connected - blocked}
    commands = _number(info.get("total_commands_processed"))
    replicas = {}
    for name, value in info.items():
        if name.startswith("slave") and name[5:].isdigit():  # slaveN:ip=...,port=...,state=online,offset=...,lag=1
            fields = dict(part.partition("=")[::2] for part in value.split(","))
            lag = _number(fields.get("lag"))
            if lag is not None:
                replicas[f"{fields.get('ip', '?')}:{fields.get('port', '?')}"] = float(lag)
    extra: dict[str, Any] = {name: number for name in _EXTRA if (number := _number(info.get(name))) is not None}
    if "maxmemory_policy" in info:
        extra["maxmemory_policy"] = info["maxmemory_policy"]
    for name, value in info.items():
        if name.startswith("db") and name[2:].isdigit():  # dbN:keys=...,expires=...,avg_ttl=...
            extra[name] = {k: _number(v) for k, v in (part.partition("=")[::2] for part in value.split(","))}
    return Resources(
        connections=connected if isinstance(connected, int) else None,
        connections_by_state=by_state,
        connections_max=_int(info.get("maxclients")),
        memory_bytes=_int(info.get("used_memory")),
        cache_hits=_int(info.get("keyspace_hits")),
        cache_misses=_int(info.get("keyspace_misses")),
        operations={"command": commands} if isinstance(commands, int) else {},
        replica_lag_seconds=replicas,
        extra=extra,
    )


def _int(text: str | None) -> int | None:
    value = _number(text)
    return value if isinstance(value, int) else None


def check(source: Source, pool: Pool) -> Health:
    """UP with the server's version, mode and role; raises SourceUnavailable when it does not answer.

    The wait for the answer is bounded by the source's ``connect_timeout``, whatever its
    ``socket_timeout``.
    """
    with pool.connection() as client:
        replies = ask(source, client, HEALTH_COMMANDS)
    return shape(source, pool.stats(), *replies)


def shape(source: Source, stats: PoolStats, info: Any, replication: Any, role: Any, *sections: Any) -> Health:
    """UP with what the replies to :data:`HEALTH_COMMANDS` tell (an error reply, e.g. an ACL
    refusing INFO, leaves its part out); shared with the asyncio check."""
    details: dict[str, Any] = {}
    version = None
    if not isinstance(info, Exception):
        server = parse_info(info)
        version = server.get("redis_version")
        details["mode"] = server.get("redis_mode", "standalone")
    if not isinstance(role, Exception):
        details["role"] = decode_reply(role[0])
    lag = None if isinstance(replication, Exception) else _lag(parse_info(replication))
    merged: dict[str, str] = {}
    for reply in (replication, *sections):
        if not isinstance(reply, Exception):
            merged.update(parse_info(reply))
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.UP,
        server_version=version,
        pool=stats,
        lag_seconds=lag,
        resources=resources(merged) if merged else None,
        details=details,
    )
