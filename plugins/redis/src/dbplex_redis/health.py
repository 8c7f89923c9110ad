"""The health check of a Redis source: one round trip for ``INFO server``, ``INFO replication`` and ``ROLE``.

A replica's lag is how long ago it last heard from its master while the link is up (Redis
pings replicas every ``repl-ping-replica-period``, 10 s by default), and how long the link has
been down otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.exceptions

from dbplex.backends import Source
from dbplex.health import Health, Status
from dbplex.pool import Pool
from dbplex_redis.errors import RedisSourceUnavailable, connection_lost
from dbplex_redis.translate import decode_reply, parse_info


def _replies(conn: Any, count: int) -> list[Any]:
    """Read ``count`` replies, keeping an error reply (e.g. an ACL refusing INFO) as the exception."""
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except redis.exceptions.ResponseError as exc:
            replies.append(exc)
    return replies


def _lag(replication: dict[str, Any]) -> float | None:
    """Seconds a replica is behind, from ``INFO replication``; None on a master."""
    if replication.get("role") != "slave":
        return None
    if replication.get("master_link_status") == "up":
        return float(replication.get("master_last_io_seconds_ago", 0))
    return float(replication.get("master_link_down_since_seconds", "inf"))


def ask(source: Source, redis_pool: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Replies to ``commands`` sent in one round trip on a pooled connection, waiting at most
    ``connect_timeout`` for them; an error reply (e.g. an ACL refusing INFO) is kept as the exception."""
    timeout = source.config.connect_timeout
    conn = redis_pool.get_connection()
    try:
        conn.send_packed_command(conn.pack_commands(commands))
        if not conn.can_read(timeout=timeout):
            raise RedisSourceUnavailable(
                f"source {source.name!r}: {conn.dbplex_where} did not answer within {timeout:g}s"
            )
        return _replies(conn, len(commands))
    except RedisSourceUnavailable:
        conn.disconnect()  # the replies may still come: the connection is out of step
        raise
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise connection_lost(source.name, conn.dbplex_where, exc) from None
    finally:
        redis_pool.release(conn)


def check(source: Source, pool: Pool) -> Health:
    """UP with the server's version, mode and role; raises SourceUnavailable when it does not answer.

    The wait for the answer is bounded by the source's ``connect_timeout``, whatever its
    ``socket_timeout``.
    """
    with pool.connection() as client:  # the source's redis.Redis, whatever wraps the pool
        redis_pool = client.connection_pool
    info, replication, role = ask(source, redis_pool, [("INFO", "server"), ("INFO", "replication"), ("ROLE",)])
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
        pool=pool.stats(),
        lag_seconds=lag,
        details=details,
    )
