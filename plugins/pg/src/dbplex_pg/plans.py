"""Ops as plans: the statement, its parameters and how its answer becomes a Result.

Planning is pure (no connection, no I/O), so the plans can be tested without a server and an
asyncio executor can run the same ones; :mod:`dbplex_pg.execute` runs them on a psycopg
connection. A uniform op is planned against the statements of its table
(:class:`~dbplex_pg.translate.TableSql`, composed once per table and pool); PostgreSQL's own
ops need nothing but the op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
from dbplex_pg.ops import SQL, Statement
from dbplex_pg.translate import TableSql, compile_statement, encode_values, sql_params

# gc=False: plans hold strings, numbers and the op's own values, never themselves, so the cycle
# collector need not track them (one allocation less per op).


class FetchRecord(msgspec.Struct, frozen=True, gc=False):
    """A Get: the row's ``data`` is the record (``fields`` of it); no row or no table, no record."""

    table: str
    sql: bytes
    params: tuple[str]
    key: str
    fields: list[str] | None = None


class FetchRecords(msgspec.Struct, frozen=True, gc=False):
    """A Scan: ``(key, data)`` rows are records (``fields`` of them); no table, no records."""

    table: str
    sql: bytes
    params: tuple[str, int]
    fields: list[str] | None = None


class WriteRecord(msgspec.Struct, frozen=True, gc=False):
    """A Put, PutMany, Update or Delete: ``affected`` is the row count. A missing table is created
    first when ``create``; otherwise nothing is written (``affected`` 0)."""

    table: str
    sql: bytes
    params: tuple[str, str] | tuple[str] | tuple[list[str], list[str]]
    create: bool = False


class RunSQL(msgspec.Struct, frozen=True, gc=False):
    """SQL text with psycopg parameters; rows by column name. With ``many``, ``params`` is a
    list of parameter sets run by ``executemany`` (no rows, ``affected`` summed)."""

    text: str
    params: dict[str, Any] | list[Any] | None = None
    many: bool = False


#: a plan of a uniform op, whose statement works on one record table.
RecordPlan = FetchRecord | FetchRecords | WriteRecord
Plan = RecordPlan | RunSQL


def plan_get(op: Get, statements: TableSql) -> FetchRecord:
    return FetchRecord(op.table, statements.get, (op.key,), op.key, op.fields)


def plan_scan(op: Scan, statements: TableSql) -> FetchRecords:
    return FetchRecords(op.table, statements.scan, (op.start_key, op.limit), op.fields)


def plan_put(op: Put, statements: TableSql) -> WriteRecord:
    return WriteRecord(op.table, statements.put, (op.key, encode_values(op.values)), True)


def plan_put_many(op: PutMany, statements: TableSql) -> WriteRecord:
    """One ``INSERT ... SELECT FROM unnest(keys, data) ON CONFLICT`` statement for every record."""
    data = [encode_values(values) for values in op.records.values()]
    return WriteRecord(op.table, statements.put_many, (list(op.records), data), True)


def plan_update(op: Update, statements: TableSql) -> WriteRecord:
    return WriteRecord(op.table, statements.update, (encode_values(op.values), op.key))


def plan_delete(op: Delete, statements: TableSql) -> WriteRecord:
    return WriteRecord(op.table, statements.delete, (op.key,))


def plan_sql(op: SQL) -> RunSQL:
    return RunSQL(op.text, sql_params(op.params))


def plan_statement(op: Statement) -> RunSQL:
    """The compiled statement; a list of parameter sets runs as ``executemany``."""
    text, params = compile_statement(op.statement, op.params)
    return RunSQL(text, params, isinstance(params, list))


#: the planner of each uniform op, given the statements of the op's table.
RECORD_PLANNERS: dict[type[Op], Callable[[Any, TableSql], RecordPlan]] = {
    Get: plan_get,
    Put: plan_put,
    PutMany: plan_put_many,
    Update: plan_update,
    Delete: plan_delete,
    Scan: plan_scan,
}

#: the planner of each PostgreSQL op.
QUERY_PLANNERS: dict[type[Op], Callable[[Any], RunSQL]] = {
    SQL: plan_sql,
    Statement: plan_statement,
}
