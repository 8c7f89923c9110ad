"""dbplex's hooks for Redis.

Loading this module imports no driver: redis-py is imported by the first hook that needs it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from dbplex.backend_plugin import backend_plugin
from dbplex.backends import Backend
from dbplex_redis.ops import OPS
from dbplex_redis.options import RedisOptions


def _version() -> str:
    try:
        return version("dbplex-redis")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


plugin = backend_plugin(
    Backend(
        name="redis",
        schemes=("redis", "rediss", "unix"),
        version=_version(),
        # No "transactions": MULTI/EXEC cannot hand reads back to the ops inside it.
        capabilities=frozenset({"ttl", "pubsub", "pipelines"}),
        ops=OPS,
        options=RedisOptions,
        description="Redis via redis-py: records as hashes with a sorted-set key index, raw commands, "
        "pipelines, pub/sub, key prefixes and TTLs",
    ),
    connect="dbplex_redis.pool:connect",
    pool="dbplex_redis.pool:RedisPool",
    query="dbplex_redis.execute:execute",
    health="dbplex_redis.health:check",
    migrate="dbplex_redis.migrate:RedisMigrator",
    bench_baseline="dbplex_redis.baseline:RedisBaseline",
)
