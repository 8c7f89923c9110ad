"""Runs plans on a checked-out connection and shapes their answers into Results.

Ops are planned by :mod:`dbplex_pg.plans` (pure); this module does the I/O. Record plans use
the connection's reused cursor and the table's precomposed SQL; the only per-call lookup is
the table in the pool's set of known tables. A table joins that set the first time it is seen
to exist (reads) or is created (writes), but only outside a transaction, since a transaction
that created it may still roll back. Reads of a missing table return no rows; writes create
it. A known table dropped behind our back is forgotten and, outside a transaction, the op
runs again. A first use is a step generator (:func:`first_use`) that this module and
:mod:`dbplex_pg.aio_execute` drive with their own I/O; the hot path, a known table, is one plan
and one statement, no generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_type_hints

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from dbplex.backends import Source
from dbplex.codec import select
from dbplex.errors import UnsupportedError
from dbplex.ops import Op
from dbplex.result import Result
from dbplex.steps import Kinded, Steps, by_kind, drive
from dbplex_pg import deadline
from dbplex_pg.connection import AsyncPgConnection, PgConnection
from dbplex_pg.errors import query_failure
from dbplex_pg.plans import (
    QUERY_PLANNERS,
    RECORD_PLANNERS,
    FetchRecord,
    FetchRecords,
    Plan,
    RecordPlan,
    RunSQL,
    WriteRecord,
)
from dbplex_pg.translate import TABLE_CREATION_LOCK, TABLE_EXISTS, TableSql, affected, table_sql

_IDLE = TransactionStatus.IDLE


# -- plans ---------------------------------------------------------------------------------------


def _fetch_record(conn: PgConnection, plan: FetchRecord) -> Result:
    cursor = conn.records
    cursor.execute(plan.sql, plan.params)
    row = cursor.fetchone()
    if row is None:
        return Result()
    fields = plan.fields
    return Result([{"key": plan.key, "values": row[0] if fields is None else select(row[0], fields)}])


def _fetch_records(conn: PgConnection, plan: FetchRecords) -> Result:
    cursor = conn.records
    cursor.execute(plan.sql, plan.params)
    fields = plan.fields
    if fields is None:
        return Result([{"key": key, "values": values} for key, values in cursor.fetchall()])
    return Result([{"key": key, "values": select(values, fields)} for key, values in cursor.fetchall()])


def _write_record(conn: PgConnection, plan: WriteRecord) -> Result:
    cursor = conn.records
    cursor.execute(plan.sql, plan.params)
    return Result(None, cursor.rowcount)


def _run_sql(conn: PgConnection, plan: RunSQL) -> Result:
    with conn.cursor(row_factory=dict_row) as cursor:
        if plan.many:
            cursor.executemany(plan.text, plan.params)  # type: ignore[arg-type]
            # psycopg documents rowcount after executemany as the sum over every parameter set;
            # the command tag (statusmessage) belongs to the last set only, or to none
            return Result([], cursor.rowcount if cursor.rowcount >= 0 else None)
        cursor.execute(plan.text, plan.params)
        while cursor.nextset():  # several statements in one text: the last one answers
            pass
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, affected(cursor.statusmessage, cursor.rowcount))


_EXECUTORS: dict[type[Any], Callable[[PgConnection, Any], Result]] = {
    FetchRecord: _fetch_record,
    FetchRecords: _fetch_records,
    WriteRecord: _write_record,
    RunSQL: _run_sql,
}


def execute(conn: PgConnection, plan: Plan) -> Result:
    """Run ``plan`` on ``conn`` (a record plan's table must exist) and shape its answer."""
    return _EXECUTORS[type(plan)](conn, plan)


#: each uniform op's planner and the executor of the plan it returns (its return annotation),
#: so that running an op costs one lookup.
_RECORD_ROUTES: dict[type[Op], tuple[Callable[[Any, TableSql], RecordPlan], Callable[[PgConnection, Any], Result]]] = {
    op_type: (planner, _EXECUTORS[get_type_hints(planner)["return"]]) for op_type, planner in RECORD_PLANNERS.items()
}


# -- record tables -------------------------------------------------------------------------------


#: what a table's first use asks its executor to do (sans-I/O, see :mod:`dbplex.steps`): say
#: whether the table exists, create it in the caller's transaction or in one of its own, run a plan.
EXISTS, CREATE, CREATE_ALONE, RUN = range(4)


def first_use(
    conn: PgConnection | AsyncPgConnection, op: Any, planner: Callable[[Any, TableSql], RecordPlan]
) -> Steps[Kinded, Result]:
    """The steps of a record op on a table not yet known to exist: a read of a missing table
    finds nothing, a Put creates it, an Update or Delete of a missing table changes nothing.
    Concurrent ``CREATE TABLE IF NOT EXISTS`` of one table can fail with duplicate-key errors, so
    creators take turns on a transaction-scoped advisory lock (in the caller's transaction, if
    any: the lock lasts as long). Both executors drive these steps."""
    statements = table_sql(conn.state.schema, op.table, conn)
    plan = planner(op, statements)
    if isinstance(plan, WriteRecord) and plan.create:
        yield (CREATE_ALONE if conn.info.transaction_status == _IDLE else CREATE), statements
    elif not (yield EXISTS, statements):
        return Result(None, 0) if isinstance(plan, WriteRecord) else Result()
    if conn.info.transaction_status == _IDLE:  # a transaction that created it may roll back
        conn.state.tables[op.table] = statements
    result: Result = yield RUN, plan
    return result


def _exists(conn: PgConnection, statements: TableSql) -> bool:
    cursor = conn.records
    cursor.execute(TABLE_EXISTS, (statements.regclass,))
    row = cursor.fetchone()
    return bool(row and row[0])


def _create(conn: PgConnection, statements: TableSql) -> None:
    cursor = conn.records
    cursor.execute(TABLE_CREATION_LOCK)
    cursor.execute(statements.create)


def _create_alone(conn: PgConnection, statements: TableSql) -> None:
    with conn.transaction():
        _create(conn, statements)


#: this executor's answer to each kind of :func:`first_use` step.
_SENDS: tuple[Callable[[PgConnection, Any], Any], ...] = (_exists, _create, _create_alone, execute)


def forget(conn: PgConnection | AsyncPgConnection, table: str) -> bool:
    """Forget a known table the server says is gone; True when the op may run again."""
    forgotten = conn.state.tables.pop(table, None)
    return forgotten is not None and conn.info.transaction_status == _IDLE


def failure(source: Source, conn: PgConnection | AsyncPgConnection, exc: psycopg.Error) -> Exception:
    """The dbplex error of a failed op: past its deadline (:mod:`dbplex_pg.deadline`), or the query's."""
    if conn.timed_out:
        return deadline.timed_out(source.name, conn.state.bound)
    return query_failure(source.name, conn, exc)  # type: ignore[arg-type]


# -- entry point ---------------------------------------------------------------------------------


def run(source: Source, conn: PgConnection, op: Op) -> Result:
    """Plan ``op`` and run it on ``conn`` within the source's operation timeout, turning
    psycopg's errors into dbplex errors."""
    route = _RECORD_ROUTES.get(type(op))
    if route is None:
        return _run_query(source, conn, op)
    planner, executor = route
    table: str = op.table  # type: ignore[attr-defined]
    deadline.begin(conn)
    try:
        statements = conn.state.tables.get(table)
        if statements is None:
            return drive(first_use(conn, op, planner), by_kind(_SENDS, conn))
        return executor(conn, planner(op, statements))  # the hot path: one plan, one statement
    except pg_errors.UndefinedTable as exc:
        if forget(conn, table):
            return run(source, conn, op)  # dropped behind our back: look it up again
        raise query_failure(source.name, conn, exc) from exc
    except psycopg.Error as exc:
        raise failure(source, conn, exc) from exc
    finally:
        deadline.end(conn)


def _run_query(source: Source, conn: PgConnection, op: Op) -> Result:
    planner = QUERY_PLANNERS.get(type(op))
    if planner is None:
        raise UnsupportedError(f"source {source.name!r}: the pg backend does not run {type(op).__name__} ops")
    plan = planner(op)
    deadline.begin(conn)
    try:
        return _run_sql(conn, plan)
    except psycopg.Error as exc:
        raise failure(source, conn, exc) from exc
    finally:
        deadline.end(conn)
