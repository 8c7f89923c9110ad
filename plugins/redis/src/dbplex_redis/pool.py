"""A Redis client of its own, outside the source's pool: the migrator's sessions.

The source's pool is dbplex's core pool over :class:`~dbplex_redis.connector.RedisConnector`
(the ``dbplex_connect`` hook); the migrator and its lock still open a client of their own here
until the hub hands them pooled sessions.
"""

from __future__ import annotations

import redis

from dbplex.backends import Source
from dbplex_redis.connector import RedisConnector


def connect(source: Source) -> redis.Redis:
    """One new client on one connection of its own, opened now (within ``connect_timeout``);
    close it with :func:`close`."""
    return RedisConnector(source).open()


def close(client: redis.Redis) -> None:
    """Close a client made by :func:`connect` (``Redis.close()`` leaves a pool it was given open)."""
    client.close()
    client.connection_pool.disconnect()
