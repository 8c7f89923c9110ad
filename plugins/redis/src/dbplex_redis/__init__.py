"""dbplex backend for Redis.

Uniform record ops (Get, Put, Update, Delete, Scan) on hashes, plus the Redis ops
:class:`Command`, :class:`Pipeline` and :class:`Publish`, and :func:`subscribe` for pub/sub.
Importing this package does not import redis-py.
"""

from __future__ import annotations

from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.options import RedisOptions
from dbplex_redis.pubsub import Message, Subscription, subscribe

__all__ = ["Command", "Message", "Pipeline", "Publish", "RedisOptions", "Subscription", "subscribe"]
