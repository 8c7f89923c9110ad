"""The pool of a Redis source: dbplex's core pool over :class:`~dbplex_redis.connector.RedisConnector`.

Every ``pool`` setting is the core pool's (:mod:`dbplex.pooling.pool`), the same as on every
backend; ``hub.connection()`` checks out one ``redis.Redis`` client whose own pool holds exactly
one connection, so counters mean what they mean elsewhere: ``acquired`` counts checkouts (one
per op), ``use`` how long one was held.
"""

from __future__ import annotations

import redis

from dbplex.backends import Source
from dbplex.pooling import ConnectorPool
from dbplex_redis.connector import RedisConnector, client_kwargs, new_client


def pool(source: Source) -> ConnectorPool[redis.Redis]:
    """The ``dbplex_pool`` hook: the core pool over this source's connector."""
    return ConnectorPool(source, RedisConnector(source))


def connect(source: Source) -> redis.Redis:
    """One new client on one connection of its own, opened now (within ``connect_timeout``);
    close it with :func:`close`. For the migrator's sessions until the hub hands it pooled ones."""
    return RedisConnector(source).open()


def close(client: redis.Redis) -> None:
    """Close a client made by :func:`connect` (``Redis.close()`` leaves a pool it was given open)."""
    client.close()
    client.connection_pool.disconnect()


__all__ = ["client_kwargs", "close", "connect", "new_client", "pool"]
