"""dbplex's hooks for PostgreSQL.

Thin on purpose: importing this module imports neither psycopg nor SQLAlchemy; the hooks'
modules are imported (and checked) when a PostgreSQL source is first opened.
"""

from __future__ import annotations

from dbplex import Backend
from dbplex.backend_plugin import backend_plugin, distribution_version
from dbplex_pg.ops import SQL
from dbplex_pg.options import PgOptions

plugin = backend_plugin(
    Backend(
        name="pg",
        schemes=("postgresql", "postgres"),
        version=distribution_version("dbplex-pg"),
        capabilities=frozenset({"transactions", "sql", "fulltext"}),
        ops=(SQL,),  # Statement holds a Python object, so it has no JSON form to decode
        options=PgOptions,
        loggers=("psycopg",),
        description="PostgreSQL via psycopg 3: JSONB records, SQLAlchemy Core statements, transactions, full-text search",
    ),
    connect="dbplex_pg.connector:PgConnector",
    query="dbplex_pg.execute:run",
    health="dbplex_pg.health:check",
    migrate="dbplex_pg.migrate:PgMigrator",
    partition="dbplex_pg.partition:PgPartitioner",
    analyze="dbplex_pg.analyze:PgAnalyzer",
    check="dbplex_pg.check:PgChecker",
    describe="dbplex_pg.describe:PgDescriber",
    watch="dbplex_pg.watch:PgChangeFeed",
    bench_baseline="dbplex_pg.baseline:PgBaseline",
    slowlog="dbplex_pg.slowlog:PgSlowLog",
    async_connect="dbplex_pg.aio_connector:AsyncPgConnector",
    async_query="dbplex_pg.aio_execute:run",
    async_health="dbplex_pg.aio_execute:check",
    async_bench_baseline="dbplex_pg.aio_baseline:AsyncPgBaseline",
    async_partition="dbplex_pg.aio_partition:AsyncPgPartitionReader",
    async_watch="dbplex_pg.aio_watch:AsyncPgChangeFeed",
)
