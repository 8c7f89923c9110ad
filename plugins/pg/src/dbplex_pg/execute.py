"""Runs ops on a checked-out connection and shapes their results.

Record ops use the connection's reused cursor and the table's precomposed SQL; the only
per-call lookup is the table in the pool's set of known tables. A table joins that set the
first time it is seen to exist (reads) or is created (writes), but only outside a transaction,
since a transaction that created it may still roll back. Reads of a missing table return no
rows; writes create it. A known table dropped behind our back is forgotten and, outside a
transaction, the op runs again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from dbplex.backends import Source
from dbplex.codec import select
from dbplex.errors import UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex_pg import deadline
from dbplex_pg.connection import PgConnection
from dbplex_pg.errors import query_failure
from dbplex_pg.ops import SQL, Statement
from dbplex_pg.translate import (
    TABLE_CREATION_LOCK,
    TABLE_EXISTS,
    TableSql,
    affected,
    compile_statement,
    encode_values,
    sql_params,
    table_sql,
)

_IDLE = TransactionStatus.IDLE


def _remember(conn: PgConnection, table: str, statements: TableSql) -> TableSql:
    if conn.info.transaction_status == _IDLE:
        conn.state.tables[table] = statements
    return statements


def _existing(conn: PgConnection, table: str) -> TableSql | None:
    """The statements of ``table`` if it exists (the slow path of reads)."""
    statements = table_sql(conn.state.schema, table, conn)
    cursor = conn.records
    cursor.execute(TABLE_EXISTS, (statements.regclass,))
    row = cursor.fetchone()
    return _remember(conn, table, statements) if row and row[0] else None


def _created(conn: PgConnection, table: str) -> TableSql:
    """The statements of ``table``, creating it first (the slow path of writes).

    Concurrent ``CREATE TABLE IF NOT EXISTS`` of one table can fail with duplicate-key errors;
    a transaction-scoped advisory lock makes creators take turns.
    """
    statements = table_sql(conn.state.schema, table, conn)
    cursor = conn.records
    if conn.info.transaction_status != _IDLE:  # the caller's transaction: the lock lasts as long
        cursor.execute(TABLE_CREATION_LOCK)
        cursor.execute(statements.create)
        return statements
    with conn.transaction():
        cursor.execute(TABLE_CREATION_LOCK)
        cursor.execute(statements.create)
    return _remember(conn, table, statements)


def _get(conn: PgConnection, op: Get) -> Result:
    statements = conn.state.tables.get(op.table) or _existing(conn, op.table)
    if statements is None:
        return Result()
    cursor = conn.records
    cursor.execute(statements.get, (op.key,))
    row = cursor.fetchone()
    if row is None:
        return Result()
    return Result([{"key": op.key, "values": row[0] if op.fields is None else select(row[0], op.fields)}])


def _put(conn: PgConnection, op: Put) -> Result:
    statements = conn.state.tables.get(op.table) or _created(conn, op.table)
    cursor = conn.records
    cursor.execute(statements.put, (op.key, encode_values(op.values)))
    return Result(None, cursor.rowcount)


def _update(conn: PgConnection, op: Update) -> Result:
    statements = conn.state.tables.get(op.table) or _existing(conn, op.table)
    if statements is None:
        return Result(None, 0)
    cursor = conn.records
    cursor.execute(statements.update, (encode_values(op.values), op.key))
    return Result(None, cursor.rowcount)


def _delete(conn: PgConnection, op: Delete) -> Result:
    statements = conn.state.tables.get(op.table) or _existing(conn, op.table)
    if statements is None:
        return Result(None, 0)
    cursor = conn.records
    cursor.execute(statements.delete, (op.key,))
    return Result(None, cursor.rowcount)


def _scan(conn: PgConnection, op: Scan) -> Result:
    statements = conn.state.tables.get(op.table) or _existing(conn, op.table)
    if statements is None:
        return Result()
    cursor = conn.records
    cursor.execute(statements.scan, (op.start_key, op.limit))
    fields = op.fields
    if fields is None:
        return Result([{"key": key, "values": values} for key, values in cursor.fetchall()])
    return Result([{"key": key, "values": select(values, fields)} for key, values in cursor.fetchall()])


def _result(cursor: psycopg.Cursor[dict[str, Any]]) -> Result:
    while cursor.nextset():  # several statements in one text: the last one answers
        pass
    rows = cursor.fetchall() if cursor.description is not None else []
    return Result(rows, affected(cursor.statusmessage, cursor.rowcount))


def _sql(conn: PgConnection, op: SQL) -> Result:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(op.text, sql_params(op.params))
        return _result(cursor)


def _statement(conn: PgConnection, op: Statement) -> Result:
    text, params = compile_statement(op.statement, op.params)
    with conn.cursor(row_factory=dict_row) as cursor:
        if isinstance(params, list):
            cursor.executemany(text, params)
            # psycopg documents rowcount after executemany as the sum over every parameter set;
            # the command tag (statusmessage) belongs to the last set only, or to none
            return Result([], cursor.rowcount if cursor.rowcount >= 0 else None)
        cursor.execute(text, params)
        return _result(cursor)


_HANDLERS: dict[type[Op], Callable[[PgConnection, Any], Result]] = {
    Get: _get,
    Put: _put,
    Update: _update,
    Delete: _delete,
    Scan: _scan,
    SQL: _sql,
    Statement: _statement,
}


def run(source: Source, conn: PgConnection, op: Op) -> Result:
    """Run ``op`` on ``conn`` within the source's operation timeout, turning psycopg's errors
    into dbplex errors."""
    handler = _HANDLERS.get(type(op))
    if handler is None:
        raise UnsupportedError(f"source {source.name!r}: the pg backend does not run {type(op).__name__} ops")
    deadline.begin(conn)
    try:
        return _run(source, conn, op, handler)
    finally:
        deadline.end(conn)


def _run(source: Source, conn: PgConnection, op: Op, handler: Callable[[PgConnection, Any], Result]) -> Result:
    try:
        return handler(conn, op)
    except pg_errors.UndefinedTable as exc:
        table = getattr(op, "table", None)
        forgotten = conn.state.tables.pop(table, None) if table is not None else None
        if forgotten is not None and conn.info.transaction_status == _IDLE:
            return _run(source, conn, op, handler)  # dropped behind our back: look it up again
        raise query_failure(source.name, conn, exc) from exc
    except psycopg.Error as exc:
        if conn.timed_out:
            raise deadline.timed_out(source.name, conn.state.bound) from exc
        raise query_failure(source.name, conn, exc) from exc
