"""PostgreSQL partition DDL and queries, rendered with ``psycopg.sql``: pure, no I/O.

Every identifier is quoted by :class:`psycopg.sql.Identifier` and every value is a literal or a
parameter, so names and values from specs and queries cannot change a statement's meaning.
Bounds are written as UTC text (``'2026-11-01 00:00:00+00'``) without a cast: PostgreSQL coerces
them to the key's own type (``timestamptz``, ``timestamp`` or ``date``), whatever the session's
time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql

from dbplex.partition import Partition, PartitionQuery
from dbplex.partition.interval import utc

#: the CHECK constraint on a default partition that refuses keys at or beyond the premade horizon.
FENCE = "dbplex_fence"
#: the temporary table that holds rows moved out of a default partition.
MOVED = "dbplex_moved"
#: one statement, as ``conn.execute`` takes it.
Statement = sql.Composed | sql.SQL
_OPERATORS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass
class Step:
    """Statements sent together: in one transaction, or one by one in autocommit mode
    (``CONCURRENTLY`` and ``FINALIZE`` cannot run inside a transaction block)."""

    statements: list[Statement]
    transaction: bool = True
    #: SQLSTATEs that mean "someone else already did it" (a concurrent creator), checked by the caller.
    tolerate: frozenset[str] = field(default_factory=frozenset)


def text(step: Step) -> list[str]:
    """``step`` as the text shown in plans (BEGIN/COMMIT around a transaction)."""
    body = [f"{statement.as_string(None)};" for statement in step.statements]
    return ["BEGIN;", *body, "COMMIT;"] if step.transaction else body


def bound(value: datetime | int | None, *, upper: bool = False) -> sql.Composable:
    """One range bound: UTC text for times, a number, or MINVALUE/MAXVALUE for an open end."""
    if value is None:
        return sql.SQL("MAXVALUE" if upper else "MINVALUE")
    if isinstance(value, datetime):
        return sql.Literal(f"{utc(value):%Y-%m-%d %H:%M:%S}+00")
    return sql.SQL(str(int(value)))  # an int's digits: psycopg would write ' -10' for a negative literal


def for_values(partition: Partition) -> sql.Composable:
    """The partition bound clause: ``FOR VALUES FROM .. TO ..`` / ``IN (..)`` / ``WITH (..)`` / ``DEFAULT``."""
    if partition.kind == "range":
        return sql.SQL("FOR VALUES FROM ({}) TO ({})").format(
            bound(partition.lower), bound(partition.upper, upper=True)
        )
    if partition.kind == "list":
        return sql.SQL("FOR VALUES IN ({})").format(sql.SQL(", ").join(sql.Literal(v) for v in partition.values))
    if partition.kind == "hash":
        return sql.SQL("FOR VALUES WITH (MODULUS {}, REMAINDER {})").format(
            sql.Literal(partition.modulus), sql.Literal(partition.remainder)
        )
    return sql.SQL("DEFAULT")


def holds(partition: Partition, key: str) -> sql.Composable:
    """A condition true for the rows with key values of ``partition`` (range and list only)."""
    column = sql.Identifier(key)
    if partition.kind == "range":
        parts = []
        if partition.lower is not None:
            parts.append(sql.SQL("{} >= {}").format(column, bound(partition.lower)))
        if partition.upper is not None:
            parts.append(sql.SQL("{} < {}").format(column, bound(partition.upper)))
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")
    if partition.kind == "list":
        return sql.SQL("{} IN ({})").format(column, sql.SQL(", ").join(sql.Literal(v) for v in partition.values))
    raise ValueError(f"a {partition.kind} partition has no condition of its own")


def create(parent: str, partition: Partition) -> sql.Composed:
    """``CREATE TABLE IF NOT EXISTS child PARTITION OF parent ...``: a second run does nothing."""
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} {}").format(
        sql.Identifier(partition.name), sql.Identifier(parent), for_values(partition)
    )


def fence(default: str, key: str, horizon: datetime | int) -> sql.Composed:
    """(Re)place the default partition's fence: keys at or beyond ``horizon`` are refused there.

    ``NOT VALID``: the constraint holds for every new row at once, without scanning the rows
    already in the partition (a horizon only moves forward, so they satisfy it anyway).
    """
    return sql.SQL(
        "ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {c}, ADD CONSTRAINT {c} CHECK ({k} < {h}) NOT VALID"
    ).format(t=sql.Identifier(default), c=sql.Identifier(FENCE), k=sql.Identifier(key), h=bound(horizon))


def move_out_of_default(
    parent: str, default: str, partition: Partition, key: str, columns: Sequence[str], *, attach_table: bool = False
) -> list[Statement]:
    """Create ``partition`` although the default partition holds rows that belong in it.

    PostgreSQL refuses to create a partition while the default one holds rows of its range, so,
    in one transaction: lock the default partition (no row can slip in meanwhile), move those
    rows into a temporary table, create the partition, and insert them again through the parent
    so they are routed to it. ``columns`` are the parent's writable columns (no generated ones);
    ``OVERRIDING SYSTEM VALUE`` keeps identity values as they were. With ``attach_table`` a table
    of the partition's name (detached earlier) is attached instead of a new one created.
    """
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    moved, target = sql.Identifier(MOVED), sql.Identifier(default)
    return [
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(target),
        sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DROP").format(
            moved, sql.Identifier(parent)
        ),
        sql.SQL(
            "WITH gone AS (DELETE FROM {d} WHERE {w} RETURNING {c}) INSERT INTO {m} ({c}) SELECT {c} FROM gone"
        ).format(d=target, w=holds(partition, key), c=cols, m=moved),
        attach(parent, partition) if attach_table else create(parent, partition),
        sql.SQL("INSERT INTO {p} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {m}").format(
            p=sql.Identifier(parent), c=cols, m=moved
        ),
        sql.SQL("TRUNCATE {}").format(moved),
    ]


def attach(parent: str, partition: Partition) -> sql.Composed:
    """``ALTER TABLE parent ATTACH PARTITION child FOR VALUES ...``: a table of that name (a detached
    partition) becomes the partition again; PostgreSQL checks that its rows fit the bounds."""
    return sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
        sql.Identifier(parent), sql.Identifier(partition.name), for_values(partition)
    )


def detach(parent: str, child: str, *, concurrently: bool) -> sql.Composed:
    """``DETACH PARTITION``; ``CONCURRENTLY`` takes only a SHARE UPDATE EXCLUSIVE lock but must run
    outside a transaction, and PostgreSQL refuses it while the table has a default partition."""
    mode = sql.SQL(" CONCURRENTLY" if concurrently else "")
    return sql.SQL("ALTER TABLE {} DETACH PARTITION {}{}").format(sql.Identifier(parent), sql.Identifier(child), mode)


def finalize(parent: str, child: str) -> sql.Composed:
    """Finish a ``DETACH ... CONCURRENTLY`` that was cancelled or whose session died."""
    return sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(sql.Identifier(parent), sql.Identifier(child))


def drop(child: str) -> sql.Composed:
    return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(child))


def archive(child: str, schema: str) -> list[Statement]:
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(sql.Identifier(child), sql.Identifier(schema)),
    ]


def child_index(definition: str, child: str, name: str) -> sql.Composed:
    """The index ``definition`` (``pg_get_indexdef`` of a parent's index) built on ``child`` as ``name``,
    ``CONCURRENTLY`` so that writes to the partition go on meanwhile."""
    head, sep, tail = definition.partition(" USING ")
    if not sep or " INDEX " not in head:
        raise ValueError(f"not an index definition: {definition!r}")
    unique = sql.SQL("UNIQUE " if head.startswith("CREATE UNIQUE ") else "")
    return sql.SQL("CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} USING {}").format(
        unique, sql.Identifier(name), sql.Identifier(child), sql.SQL(tail)
    )


def attach_index(parent_index: str, child_index_name: str) -> sql.Composed:
    return sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(
        sql.Identifier(parent_index), sql.Identifier(child_index_name)
    )


def drop_index_concurrently(name: str) -> sql.Composed:
    return sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name))


def select(
    table: str, query: PartitionQuery, *, explain: bool = False, text_order: Mapping[str, str] | None = None
) -> tuple[sql.Composed, list[Any]]:
    """``SELECT`` of ``query`` on ``table`` (a partition, or the parent for EXPLAIN), with ``%s`` parameters.

    The order is the core's (docs/partitioning.md, Cross-partition queries): text by code point,
    so the columns in ``text_order`` (:func:`partition_catalog.text_order`) are ordered
    ``COLLATE "C"`` (citext, enums and domains cast to text first) whatever the database's
    collation; otherwise each partition's ``LIMIT`` would cut its rows in another order than the
    merge's and keep the wrong ones. ``NULLS LAST`` ascending / ``NULLS FIRST`` descending is
    PostgreSQL's default and the core's.
    """
    fields = sql.SQL("*") if query.fields is None else sql.SQL(", ").join(sql.Identifier(f) for f in query.fields)
    statement = sql.SQL("SELECT {} FROM {}").format(fields, sql.Identifier(table))
    params: list[Any] = []
    conditions: list[sql.Composable] = []
    for condition in query.where:
        column = sql.Identifier(condition.field)
        if condition.op == "in":
            conditions.append(sql.SQL("{} = ANY(%s)").format(column))
            params.append(list(condition.value))
        else:
            conditions.append(sql.SQL("{} {} %s").format(column, sql.SQL(_OPERATORS[condition.op])))
            params.append(condition.value)
    if conditions:
        statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
    if query.order_by:
        order = [
            sql.SQL("{} {}").format(_sort_key(o.field, (text_order or {}).get(o.field)), sql.SQL(o.direction.upper()))
            for o in query.order_by
        ]
        statement += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)
    if query.limit is not None:
        statement += sql.SQL(" LIMIT {}").format(sql.Literal(int(query.limit)))
    if query.offset:
        statement += sql.SQL(" OFFSET {}").format(sql.Literal(int(query.offset)))
    if explain:
        statement = sql.SQL("EXPLAIN (COSTS OFF) ") + statement
    return statement, params


def _sort_key(field_name: str, how: str | None) -> sql.Composable:
    column = sql.Identifier(field_name)
    if how == "collate":
        return sql.SQL('{} COLLATE "C"').format(column)
    if how == "cast":
        return sql.SQL('({}::text) COLLATE "C"').format(column)
    return column


def insert(parent: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(parent),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder() for _ in columns),
    )
