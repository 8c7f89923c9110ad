"""dbplex's hooks for Redis: two backends, ``redis`` (one server) and ``redis_cluster``.

A cluster is a backend of its own, registered by the same distribution, because it differs in
what the source can do (no subscriptions, no migrations yet), in its key layout (tables are
hash tags) and in its pool (one per node). Both share translation and execution.
Loading this module imports no driver: redis-py comes with the hooks' modules, imported when a
Redis source is first opened.
"""

from __future__ import annotations

from dbplex.backend_plugin import backend_plugin, distribution_version
from dbplex.backends import Backend
from dbplex_redis.ops import OPS
from dbplex_redis.options import RedisClusterOptions, RedisOptions

plugin = backend_plugin(
    Backend(
        name="redis",
        schemes=("redis", "rediss", "unix"),
        version=distribution_version("dbplex-redis"),
        # No "transactions": MULTI/EXEC cannot hand reads back to the ops inside it.
        capabilities=frozenset({"ttl", "pubsub", "pipelines"}),
        ops=OPS,
        options=RedisOptions,
        loggers=("redis",),
        description="Redis via redis-py: records as hashes with a sorted-set key index, raw commands, "
        "pipelines, pub/sub, key prefixes and TTLs",
    ),
    connect="dbplex_redis.connector:RedisConnector",
    query="dbplex_redis.execute:execute",
    health="dbplex_redis.health:check",
    migrate="dbplex_redis.migrate:RedisMigrator",
    partition="dbplex_redis.partition:RedisPartitioner",
    analyze="dbplex_redis.analyze:RedisAnalyzer",
    check="dbplex_redis.check:RedisChecker",
    describe="dbplex_redis.describe:RedisDescriber",
    watch="dbplex_redis.watch:RedisChangeFeed",
    bench_baseline="dbplex_redis.baseline:RedisBaseline",
    slowlog="dbplex_redis.slowlog:RedisSlowLog",
    async_connect="dbplex_redis.aio_connector:AsyncRedisConnector",
    async_query="dbplex_redis.aio_execute:execute",
    async_health="dbplex_redis.aio_execute:check",
    async_bench_baseline="dbplex_redis.aio_baseline:AsyncRedisBaseline",
    async_watch="dbplex_redis.aio_watch:AsyncRedisChangeFeed",
    async_partition="dbplex_redis.aio_partition:AsyncRedisPartitionReader",
)

cluster_plugin = backend_plugin(
    Backend(
        name="redis_cluster",
        schemes=("redis+cluster", "rediss+cluster"),
        version=distribution_version("dbplex-redis"),
        # No "pubsub": the Publish op works, subscribe() does not (yet) follow a cluster's nodes.
        capabilities=frozenset({"ttl", "pipelines"}),
        ops=OPS,
        options=RedisClusterOptions,
        loggers=("redis",),
        description="Redis Cluster via redis-py: records as hashes with each table in one hash slot, raw "
        "commands and pipelines routed by dbplex's own slot map, key prefixes and TTLs",
    ),
    pool="dbplex_redis.cluster_pool:RedisClusterPool",
    query="dbplex_redis.cluster_execute:execute",
    health="dbplex_redis.cluster_health:check",
    partition="dbplex_redis.partition:RedisPartitioner",
    analyze="dbplex_redis.analyze:RedisAnalyzer",
    async_pool="dbplex_redis.aio_cluster_pool:AsyncRedisClusterPool",
    async_query="dbplex_redis.aio_cluster_execute:execute",
    async_health="dbplex_redis.aio_cluster_execute:check",
)
