"""dbplex's hooks for PostgreSQL.

Thin on purpose: importing this module imports neither psycopg nor SQLAlchemy; each hook
imports what it needs the first time it runs for a PostgreSQL source.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from dbplex import Backend, hookimpl
from dbplex_pg.ops import SQL
from dbplex_pg.options import PgOptions

if TYPE_CHECKING:
    from dbplex import Health, Op, Pool, Result, Source
    from dbplex.bench.baseline import Baseline
    from dbplex.migrate import Migrator

NAME = "pg"


def _version() -> str:
    try:
        return version("dbplex-pg")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@hookimpl
def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name=NAME,
            schemes=("postgresql", "postgres"),
            version=_version(),
            capabilities=frozenset({"transactions", "sql", "fulltext"}),
            ops=(SQL,),  # Statement holds a Python object, so it has no JSON form to decode
            options=PgOptions,
            description="PostgreSQL via psycopg 3: JSONB records, SQLAlchemy Core statements, transactions, full-text search",
        )
    )


@hookimpl
def dbplex_connect(source: Source) -> Any:
    if source.backend != NAME:
        return None
    from dbplex_pg.connection import connection_class, open_connection

    return open_connection(source, connection_class(source))


@hookimpl
def dbplex_pool(source: Source) -> Pool | None:
    if source.backend != NAME:
        return None
    from dbplex_pg.pool import PgPool

    return PgPool(source)


@functools.cache
def _runner() -> Callable[[Source, Any, Op], Result]:
    from dbplex_pg.execute import run

    return run


@hookimpl
def dbplex_query(source: Source, conn: Any, op: Op) -> Result | None:
    if source.backend != NAME:
        return None
    return _runner()(source, conn, op)


@hookimpl
def dbplex_migrate(source: Source) -> Migrator | None:
    if source.backend != NAME:
        return None
    from dbplex_pg.migrate import PgMigrator

    return PgMigrator(source)


@hookimpl
def dbplex_health(source: Source, pool: Pool) -> Health | None:
    if source.backend != NAME:
        return None
    from dbplex_pg.health import check

    return check(source, pool)


@hookimpl
def dbplex_bench_baseline(source: Source, pool_size: int) -> Baseline | None:
    if source.backend != NAME:
        return None
    from dbplex_pg.baseline import PgBaseline

    return PgBaseline(source, pool_size)
