"""The dbplex hooks of the Redis backend.

Loading this module imports no driver: redis-py is imported by the first hook that needs it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from dbplex.backends import Backend
from dbplex.hookspecs import hookimpl
from dbplex_redis.ops import OPS
from dbplex_redis.options import RedisOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    from dbplex.backends import Source
    from dbplex.bench.baseline import Baseline
    from dbplex.health import Health
    from dbplex.migrate import Migrator
    from dbplex.ops import Op
    from dbplex.pool import Pool
    from dbplex.result import Result

NAME = "redis"

try:
    __version__ = version("dbplex-redis")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"


@hookimpl
def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name=NAME,
            schemes=("redis", "rediss", "unix"),
            version=__version__,
            # No "transactions": MULTI/EXEC cannot hand reads back to the ops inside it.
            capabilities=frozenset({"ttl", "pubsub", "pipelines"}),
            ops=OPS,
            options=RedisOptions,
            description="Redis via redis-py: records as hashes with a sorted-set key index, raw commands, "
            "pipelines, pub/sub, key prefixes and TTLs",
        )
    )


@hookimpl
def dbplex_connect(source: Source) -> Any:
    if source.backend != NAME:
        return None
    from dbplex_redis.pool import connect

    return connect(source)


@hookimpl
def dbplex_pool(source: Source) -> Pool | None:
    if source.backend != NAME:
        return None
    from dbplex_redis.pool import RedisPool

    return RedisPool(source)


def _load_execute(source: Source, conn: Any, op: Op) -> Result:
    """Import the executor on the first query, then let every later query call it directly."""
    global _execute
    from dbplex_redis.execute import execute

    _execute = execute
    return execute(source, conn, op)


_execute: Callable[[Source, Any, Op], Result] = _load_execute


@hookimpl
def dbplex_query(source: Source, conn: Any, op: Op) -> Result | None:
    if source.backend != NAME:
        return None
    return _execute(source, conn, op)


@hookimpl
def dbplex_migrate(source: Source) -> Migrator | None:
    if source.backend != NAME:
        return None
    from dbplex_redis.migrate import RedisMigrator

    return RedisMigrator(source)


@hookimpl
def dbplex_health(source: Source, pool: Pool) -> Health | None:
    if source.backend != NAME:
        return None
    from dbplex_redis.health import check

    return check(source, pool)


@hookimpl
def dbplex_bench_baseline(source: Source, pool_size: int) -> Baseline | None:
    if source.backend != NAME:
        return None
    from dbplex_redis.baseline import RedisBaseline

    return RedisBaseline(source, pool_size)
