"""dbplex's hooks for SQLite, registered through the ``dbplex`` entry point.

Hook implementations only, and thin: each answers for ``sqlite`` sources alone and hands the
work to a module it imports when first needed, so that loading the plugin (``dbplex
plugins``, or an application that uses other backends) imports no driver.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from typing import Any

from dbplex import Backend, Health, Pool, Result, Source, hookimpl
from dbplex.ops import Op

from dbplex_sqlite.ops import Execute
from dbplex_sqlite.options import SqliteOptions

NAME = "sqlite"


@hookimpl
def dbplex_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name=NAME,
            schemes=("sqlite",),
            version=version("dbplex-sqlite"),
            capabilities=frozenset({"transactions"}),
            ops=(Execute,),
            options=SqliteOptions,
            description="SQLite database files, through the standard library's sqlite3",
        )
    )


@hookimpl
def dbplex_connect(source: Source) -> Any:
    if source.backend != NAME:
        return None
    from dbplex_sqlite.connect import connect

    return connect(source)


@hookimpl
def dbplex_pool(source: Source) -> Pool | None:
    if source.backend != NAME:
        return None
    from dbplex_sqlite.pool import SqlitePool

    return SqlitePool(source)


@hookimpl
def dbplex_query(source: Source, conn: Any, op: Op) -> Result | None:
    if source.backend != NAME:
        return None
    return _runner()(source, conn, op)


@hookimpl
def dbplex_health(source: Source, pool: Pool) -> Health | None:
    if source.backend != NAME:
        return None
    from dbplex_sqlite.health import check

    return check(source, pool)


@cache
def _runner() -> Callable[[Source, Any, Op], Result]:
    """The op runner, imported on first use and then kept: an import statement inside the
    hook would cost more per call than the rest of the hook together."""
    from dbplex_sqlite.execute import run

    return run
