"""dbplex hook implementations for MongoDB.

Thin on purpose: each hook checks that the source is a MongoDB one and imports the module that
does the work on first use, so loading the plugin (``dbplex --help``) imports no pymongo.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from dbplex import Backend, hookimpl

if TYPE_CHECKING:
    from dbplex import Health, Op, Pool, Result, Source
    from dbplex.bench.baseline import Baseline
    from dbplex.migrate import Migrator

NAME = "mongo"
CAPABILITIES = frozenset({"transactions", "aggregate", "files", "change_streams"})

_run: Callable[[Source, Any, Op], Result] | None = None


def _version() -> str:
    try:
        return version("dbplex-mongo")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@hookimpl
def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
    from dbplex_mongo.ops import OPS
    from dbplex_mongo.options import MongoOptions

    register(
        Backend(
            name=NAME,
            schemes=("mongodb", "mongodb+srv"),
            version=_version(),
            capabilities=CAPABILITIES,
            ops=OPS,
            options=MongoOptions,
            description="MongoDB through pymongo: documents, find, aggregate, bulk writes, indexes, GridFS, change streams",
        )
    )


@hookimpl
def dbplex_connect(source: Source) -> Any:
    if source.backend != NAME:
        return None
    from dbplex_mongo.client import connect

    return connect(source)


@hookimpl
def dbplex_pool(source: Source) -> Pool | None:
    if source.backend != NAME:
        return None
    from dbplex_mongo.pool import MongoPool

    return MongoPool(source)


@hookimpl
def dbplex_query(source: Source, conn: Any, op: Op) -> Result | None:
    if source.backend != NAME:
        return None
    run = _run or _load_run()
    return run(source, conn, op)


def _load_run() -> Callable[[Source, Any, Op], Result]:
    global _run
    from dbplex_mongo.execute import run

    _run = run
    return run


@hookimpl
def dbplex_migrate(source: Source) -> Migrator | None:
    if source.backend != NAME:
        return None
    from dbplex_mongo.migrate import MongoMigrator

    return MongoMigrator(source)


@hookimpl
def dbplex_health(source: Source, pool: Pool) -> Health | None:
    if source.backend != NAME:
        return None
    from dbplex_mongo.health import check

    return check(source, pool)


@hookimpl
def dbplex_bench_baseline(source: Source, pool_size: int) -> Baseline | None:
    if source.backend != NAME:
        return None
    from dbplex_mongo.baseline import MongoBaseline

    return MongoBaseline(source, pool_size)
