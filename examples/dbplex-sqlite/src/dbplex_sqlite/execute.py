"""Running ops on a checked-out sqlite3 connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from dbplex import Result, Source, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update

from dbplex_sqlite import errors, translate
from dbplex_sqlite.ops import Execute


def run(source: Source, conn: sqlite3.Connection, op: Op) -> Result:
    """Run ``op`` and shape its result; SQLite's errors become dbplex errors."""
    runner = _RUNNERS.get(type(op))
    if runner is None:
        raise UnsupportedError(f"source {source.name!r}: the sqlite backend does not run {type(op).__name__} ops")
    try:
        return runner(conn, op)
    except sqlite3.Error as exc:
        raise errors.query_error(source, exc) from None


def _get(conn: sqlite3.Connection, op: Get) -> Result:
    found = conn.execute(*translate.get(op)).fetchone()
    return Result([translate.record(op.key, found[0], op.fields)] if found else [])


def _scan(conn: sqlite3.Connection, op: Scan) -> Result:
    return Result([translate.record(key, stored, op.fields) for key, stored in conn.execute(*translate.scan(op))])


def _put(conn: sqlite3.Connection, op: Put) -> Result:
    return Result(affected=conn.execute(*translate.put(op)).rowcount)


def _put_many(conn: sqlite3.Connection, op: PutMany) -> Result:
    return Result(affected=conn.executemany(*translate.put_many(op)).rowcount)


def _update(conn: sqlite3.Connection, op: Update) -> Result:
    return Result(affected=conn.execute(*translate.update(op)).rowcount)


def _delete(conn: sqlite3.Connection, op: Delete) -> Result:
    return Result(affected=conn.execute(*translate.delete(op)).rowcount)


def _execute(conn: sqlite3.Connection, op: Execute) -> Result:
    cursor = conn.execute(*translate.execute(op))
    if cursor.description is None:
        return Result(affected=cursor.rowcount if cursor.rowcount >= 0 else None)
    columns = [column[0] for column in cursor.description]
    return Result([dict(zip(columns, row, strict=True)) for row in cursor])


#: dispatch by exact type: one dict lookup on the hot path, no isinstance chain.
_RUNNERS: dict[type[Op], Callable[[sqlite3.Connection, Any], Result]] = {
    Get: _get,
    Put: _put,
    PutMany: _put_many,
    Update: _update,
    Delete: _delete,
    Scan: _scan,
    Execute: _execute,
}
