"""dbplex's hooks for MongoDB.

Thin on purpose: each hook answers for MongoDB sources only and imports the module that does
the work on first use, so loading the plugin (``dbplex --help``) imports no pymongo.
"""

from __future__ import annotations

from dbplex import Backend
from dbplex.backend_plugin import backend_plugin, distribution_version
from dbplex_mongo.ops import OPS
from dbplex_mongo.options import MongoOptions

CAPABILITIES = frozenset({"transactions", "aggregate", "files", "change_streams"})


plugin = backend_plugin(
    Backend(
        name="mongo",
        schemes=("mongodb", "mongodb+srv"),
        version=distribution_version("dbplex-mongo"),
        capabilities=CAPABILITIES,
        ops=OPS,
        options=MongoOptions,
        loggers=("pymongo",),
        description="MongoDB through pymongo: documents, find, aggregate, bulk writes, indexes, GridFS, change streams",
    ),
    pool="dbplex_mongo.pool:MongoPool",
    query="dbplex_mongo.execute:run",
    health="dbplex_mongo.health:check",
    migrate="dbplex_mongo.migrate:MongoMigrator",
    partition="dbplex_mongo.partition:MongoPartitioner",
    analyze="dbplex_mongo.analyze:MongoAnalyzer",
    check="dbplex_mongo.check:MongoChecker",
    describe="dbplex_mongo.describe:MongoDescriber",
    watch="dbplex_mongo.watch:MongoChangeFeed",
    bench_baseline="dbplex_mongo.baseline:MongoBaseline",
    slowlog="dbplex_mongo.slowlog:MongoSlowLog",
    async_pool="dbplex_mongo.aio_pool:AsyncMongoPool",
    async_query="dbplex_mongo.aio_execute:run",
    async_health="dbplex_mongo.aio_execute:check",
    async_bench_baseline="dbplex_mongo.aio_baseline:AsyncMongoBaseline",
    async_partition="dbplex_mongo.aio_partition:AsyncMongoPartitionReader",
)
