"""Runs the plans of :mod:`dbplex_pg.plans` on an ``AsyncConnection``: the ``dbplex_async_query``
and ``dbplex_async_health`` hooks.

The twin of :mod:`dbplex_pg.execute`: the same planners and statements, the same table cache
(a table becomes known when seen to exist or created, outside a transaction only: the steps of
:func:`dbplex_pg.execute.first_use`, which both executors drive), the same rows and errors; only
the driver calls are awaited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from dbplex.aio.pool import AsyncPool
from dbplex.backends import Source
from dbplex.codec import select
from dbplex.errors import UnsupportedError
from dbplex.health import Health
from dbplex.ops import Op
from dbplex.result import Result
from dbplex.steps import adrive, by_kind
from dbplex_pg import deadline
from dbplex_pg.aio_connector import learn_role
from dbplex_pg.connection import AsyncPgConnection
from dbplex_pg.errors import query_failure
from dbplex_pg.execute import failure, first_use, forget
from dbplex_pg.health import ROLE_LAG_AND_RESOURCES, shape
from dbplex_pg.plans import (
    QUERY_PLANNERS,
    RECORD_PLANNERS,
    FetchRecord,
    FetchRecords,
    RecordPlan,
    RunSQL,
    WriteRecord,
)
from dbplex_pg.translate import TABLE_CREATION_LOCK, TABLE_EXISTS, TableSql, affected

Conn = AsyncPgConnection


async def _fetch_record(conn: Conn, plan: FetchRecord) -> Result:
    cursor = conn.records
    await cursor.execute(plan.sql, plan.params)
    row = await cursor.fetchone()
    if row is None:
        return Result()
    fields = plan.fields
    return Result([{"key": plan.key, "values": row[0] if fields is None else select(row[0], fields)}])


async def _fetch_records(conn: Conn, plan: FetchRecords) -> Result:
    cursor = conn.records
    await cursor.execute(plan.sql, plan.params)
    fields = plan.fields
    rows = await cursor.fetchall()
    if fields is None:
        return Result([{"key": key, "values": values} for key, values in rows])
    return Result([{"key": key, "values": select(values, fields)} for key, values in rows])


async def _write_record(conn: Conn, plan: WriteRecord) -> Result:
    cursor = conn.records
    await cursor.execute(plan.sql, plan.params)
    return Result(None, cursor.rowcount)


async def _run_sql(conn: Conn, plan: RunSQL) -> Result:
    async with conn.cursor(row_factory=dict_row) as cursor:
        if plan.many:
            await cursor.executemany(plan.text, plan.params)  # type: ignore[arg-type]
            return Result([], cursor.rowcount if cursor.rowcount >= 0 else None)
        await cursor.execute(plan.text, plan.params)
        while cursor.nextset():  # several statements in one text: the last one answers
            pass
        rows = await cursor.fetchall() if cursor.description is not None else []
        return Result(rows, affected(cursor.statusmessage, cursor.rowcount))


_EXECUTORS: dict[type[Any], Callable[[Conn, Any], Awaitable[Result]]] = {
    FetchRecord: _fetch_record,
    FetchRecords: _fetch_records,
    WriteRecord: _write_record,
    RunSQL: _run_sql,
}

#: each uniform op's planner (the sync executor's) and the async executor of the plan it returns.
_RECORD_ROUTES: dict[
    type[Op], tuple[Callable[[Any, TableSql], RecordPlan], Callable[[Conn, Any], Awaitable[Result]]]
] = {op_type: (planner, _EXECUTORS[get_type_hints(planner)["return"]]) for op_type, planner in RECORD_PLANNERS.items()}


async def _execute(conn: Conn, plan: Any) -> Result:
    return await _EXECUTORS[type(plan)](conn, plan)


async def _exists(conn: Conn, statements: TableSql) -> bool:
    cursor = conn.records
    await cursor.execute(TABLE_EXISTS, (statements.regclass,))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _create(conn: Conn, statements: TableSql) -> None:
    cursor = conn.records
    await cursor.execute(TABLE_CREATION_LOCK)
    await cursor.execute(statements.create)


async def _create_alone(conn: Conn, statements: TableSql) -> None:
    async with conn.transaction():
        await _create(conn, statements)


#: this executor's answer to each kind of :func:`dbplex_pg.execute.first_use` step.
_SENDS: tuple[Callable[[Conn, Any], Awaitable[Any]], ...] = (_exists, _create, _create_alone, _execute)


async def run(source: Source, conn: Conn, op: Op) -> Result:
    """Plan ``op`` and run it on ``conn`` within the source's operation timeout (the server's, and
    the client's deadline of :func:`dbplex_pg.deadline.begin_on_loop`), turning psycopg's errors into
    dbplex errors; a write refused as read-only first asks the server's role (:func:`learn_role`)."""
    route = _RECORD_ROUTES.get(type(op))
    if route is None:
        planner = QUERY_PLANNERS.get(type(op))
        if planner is None:
            raise UnsupportedError(f"source {source.name!r}: the pg backend does not run {type(op).__name__} ops")
        deadline.begin_on_loop(conn)
        try:
            return await _run_sql(conn, planner(op))
        except psycopg.Error as exc:
            await learn_role(conn, exc)
            raise failure(source, conn, exc) from exc
        finally:
            deadline.end(conn)
    record_planner, executor = route
    table: str = op.table  # type: ignore[attr-defined]
    deadline.begin_on_loop(conn)
    try:
        statements = conn.state.tables.get(table)
        if statements is None:
            return await adrive(first_use(conn, op, record_planner), by_kind(_SENDS, conn))
        return await executor(conn, record_planner(op, statements))  # the hot path: one plan, one statement
    except pg_errors.UndefinedTable as exc:
        if forget(conn, table):
            return await run(source, conn, op)  # dropped behind our back: look it up again
        raise query_failure(source.name, conn, exc) from exc  # type: ignore[arg-type]
    except psycopg.Error as exc:
        await learn_role(conn, exc)
        raise failure(source, conn, exc) from exc
    finally:
        deadline.end(conn)


async def check(source: Source, pool: AsyncPool) -> Health:
    """As :func:`dbplex_pg.health.check`: version, role and lag in one round trip."""
    async with pool.connection() as conn:
        deadline.begin_on_loop(conn)
        try:
            row = await (await conn.execute(ROLE_LAG_AND_RESOURCES)).fetchone()
        except psycopg.Error as exc:
            raise failure(source, conn, exc) from exc
        finally:
            deadline.end(conn)
        info = conn.info
    return shape(source, pool.stats(), info, row)
