"""The health check of a Redis source: one round trip for ``INFO server``, ``INFO replication`` and ``ROLE``.

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
from dbplex.health import Health, Status
from dbplex.pool import Pool, PoolStats
from dbplex_redis.connector import connection_of
from dbplex_redis.errors import RedisSourceUnavailable, address, connection_lost
from dbplex_redis.execute import replies
from dbplex_redis.translate import decode_reply, parse_info


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


def check(source: Source, pool: Pool) -> Health:
    """UP with the server's version, mode and role; raises SourceUnavailable when it does not answer.

    The wait for the answer is bounded by the source's ``connect_timeout``, whatever its
    ``socket_timeout``.
    """
    with pool.connection() as client:
        info, replication, role = ask(source, client, [("INFO", "server"), ("INFO", "replication"), ("ROLE",)])
    return shape(source, pool.stats(), info, replication, role)


def shape(source: Source, stats: PoolStats, info: Any, replication: Any, role: Any) -> Health:
    """UP with what the replies to ``INFO server``, ``INFO replication`` and ``ROLE`` tell (an error
    reply, e.g. an ACL refusing INFO, leaves its part out); shared with the asyncio check."""
    details: dict[str, Any] = {}
    version = None
    if not isinstance(info, Exception):
        server = parse_info(info)
        version = server.get("redis_version")
        details["mode"] = server.get("redis_mode", "standalone")
    if not isinstance(role, Exception):
        details["role"] = decode_reply(role[0])
    lag = None if isinstance(replication, Exception) else _lag(parse_info(replication))
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.UP,
        server_version=version,
        pool=stats,
        lag_seconds=lag,
        details=details,
    )
