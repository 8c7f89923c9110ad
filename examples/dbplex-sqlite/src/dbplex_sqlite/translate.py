"""Uniform ops as SQL statements, and records as stored bytes. Pure: no I/O.

Layout: every dbplex table lives in one SQLite table, ``dbplex_records(tbl, key, record)``,
keyed by ``(tbl, key)``. One shared table rather than one per dbplex table, because SQLite
table names are case-insensitive and ``sqlite_*`` names are reserved, while dbplex table names
are neither. ``key`` uses SQLite's default BINARY collation, which compares UTF-8 bytes, i.e.
code points, the order Scan requires. ``record`` is the values dict packed as MessagePack with
:func:`dbplex.codec.pack`, which keeps every uniform type exactly (bytes, int64, 1e16 as a
float); Update merges fields inside SQLite with the ``dbplex_merge`` function that each
connection registers, so it is one atomic statement.
"""

from __future__ import annotations

from typing import Any

from dbplex.codec import pack, select, unpack
from dbplex.ops import Delete, Get, Put, PutMany, Scan, Update

from dbplex_sqlite.ops import Execute

#: a statement and its parameters, ready for ``Connection.execute``.
Statement = tuple[str, tuple[Any, ...]]

MERGE_FUNCTION = "dbplex_merge"

CREATE_RECORDS = (
    "CREATE TABLE IF NOT EXISTS dbplex_records ("
    "tbl TEXT NOT NULL, key TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (tbl, key)"
    ") WITHOUT ROWID"
)

_GET = "SELECT record FROM dbplex_records WHERE tbl = ? AND key = ?"
_PUT = (
    "INSERT INTO dbplex_records (tbl, key, record) VALUES (?, ?, ?) "
    "ON CONFLICT (tbl, key) DO UPDATE SET record = excluded.record"
)
_UPDATE = f"UPDATE dbplex_records SET record = {MERGE_FUNCTION}(record, ?) WHERE tbl = ? AND key = ?"
_DELETE = "DELETE FROM dbplex_records WHERE tbl = ? AND key = ?"
_SCAN = "SELECT key, record FROM dbplex_records WHERE tbl = ? AND key >= ? ORDER BY key LIMIT ?"


def get(op: Get) -> Statement:
    return _GET, (op.table, op.key)


def put(op: Put) -> Statement:
    return _PUT, (op.table, op.key, pack(op.values))


def put_many(op: PutMany) -> tuple[str, list[tuple[Any, ...]]]:
    """Put's statement with a parameter set per record, for ``executemany``."""
    return _PUT, [(op.table, key, pack(values)) for key, values in op.records.items()]


def update(op: Update) -> Statement:
    return _UPDATE, (pack(op.values), op.table, op.key)


def delete(op: Delete) -> Statement:
    return _DELETE, (op.table, op.key)


def scan(op: Scan) -> Statement:
    return _SCAN, (op.table, op.start_key, op.limit)


def execute(op: Execute) -> Statement:
    return op.sql, tuple(op.params)


def record(key: str, stored: bytes, fields: list[str] | None) -> dict[str, Any]:
    """The result row of a stored record: ``{"key": ..., "values": {...}}``."""
    return {"key": key, "values": select(unpack(stored), fields)}


def merge(stored: bytes, patch: bytes) -> bytes:
    """``dbplex_merge(record, patch)`` in SQL: the stored record with the patch's fields set."""
    values = unpack(stored)
    values.update(unpack(patch))
    return pack(values)
