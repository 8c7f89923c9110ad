"""Reading what PostgreSQL holds for a partitioned table: ``pg_partitioned_table``, ``pg_inherits``,
partition bounds (``pg_get_expr(relpartbound)``) and indexes.

Bounds are parsed from ``pg_get_expr`` text, which the partitioner's session prints in UTC with
ISO dates (it sets ``TimeZone`` and ``DateStyle``), so the parse does not depend on the server's
settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import psycopg

from dbplex.partition import Existing, Inventory, Partition, PartitionSpec
from dbplex.partition.model import Bound

STRATEGIES = {"r": "range", "l": "list", "h": "hash"}
TIME_TYPES = frozenset({"date", "timestamp without time zone", "timestamp with time zone"})
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})

PARENT = """
SELECT c.oid, c.relkind, n.nspname, pt.partstrat,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum),
       (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attname = %(key)s AND NOT a.attisdropped)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
WHERE c.oid = to_regclass(quote_ident(%(table)s))
"""
CHILDREN = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending, c.reltuples
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %s
ORDER BY c.relname
"""
#: the parent's indexes, and for each partition whether it has an index attached to it.
_MISSING_INDEXES = """
SELECT pi.relname, pg_get_indexdef(pi.oid), child.relname
FROM pg_index px
JOIN pg_class pi ON pi.oid = px.indexrelid
JOIN pg_inherits ci ON ci.inhparent = px.indrelid
JOIN pg_class child ON child.oid = ci.inhrelid
WHERE px.indrelid = %s AND child.relkind = 'r' AND NOT ci.inhdetachpending
  AND NOT EXISTS (
    SELECT 1 FROM pg_inherits ii JOIN pg_index cx ON cx.indexrelid = ii.inhrelid
    WHERE ii.inhparent = px.indexrelid AND cx.indrelid = child.oid)
ORDER BY pi.relname, child.relname
"""
_COLUMNS = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""
#: tables of the parent's schema named like its partitions that are no partition of anything
#: (detached ones; ``relispartition`` stays true while a detach is pending).
_UNATTACHED = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = %(oid)s)
  AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid <> %(oid)s
  AND left(c.relname, length(%(prefix)s)) = %(prefix)s
ORDER BY c.relname
"""
#: a table of the current search path that is no partition (or None: no such table, or a partition).
_STANDALONE = """
SELECT NOT c.relispartition FROM pg_class c WHERE c.oid = to_regclass(quote_ident(%s)) AND c.relkind IN ('r', 'p')
"""
#: the parent's columns that the database orders as text: (name, type name, type category).
TEXT_COLUMNS = """
SELECT a.attname, t.typname, t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0 AND NOT a.attisdropped
  AND t.typcategory IN ('S', 'E')
"""
#: types whose values compare under a collation as they are: ``COLLATE "C"`` gives code-point order.
_PLAIN_TEXT = frozenset({"text", "varchar", "bpchar", "name"})
_FENCE = """
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(quote_ident(%s)) AND conname = %s
"""
_RANGE = re.compile(r"FOR VALUES FROM \((?P<lower>.+)\) TO \((?P<upper>.+)\)")
_LIST = re.compile(r"FOR VALUES IN \((?P<values>.+)\)")
_HASH = re.compile(r"FOR VALUES WITH \(modulus (?P<modulus>\d+), remainder (?P<remainder>\d+)\)")
_VALUE = re.compile(r"'(?P<text>(?:[^']|'')*)'|(?P<bare>[^,\s]+)")
_OFFSET = re.compile(r"([+-]\d\d)$")


@dataclass
class Parent:
    """The target table as the catalog describes it."""

    oid: int
    kind: str
    schema: str
    strategy: str | None
    keys: list[str | None]
    key_type: str | None


@dataclass
class Child:
    """One partition: its table name, what the spec calls it, its state, and its estimated rows."""

    table: str
    partition: Partition
    pending: bool
    #: ``pg_class.reltuples``, the planner's estimate; None when never analysed (-1).
    rows: int | None = None


def parent(conn: psycopg.Connection[Any], spec: PartitionSpec) -> Parent | None:
    return parent_of(conn.execute(PARENT, parent_params(spec)).fetchone())


def parent_params(spec: PartitionSpec) -> dict[str, str]:
    return {"table": spec.target, "key": spec.key}


def parent_of(row: Any) -> Parent | None:
    """The :class:`Parent` a row of :data:`PARENT` describes (None: no such table)."""
    if row is None:
        return None
    oid, kind, schema, strategy, keys, key_type = row
    return Parent(oid, kind, schema, STRATEGIES.get(strategy) if strategy else None, list(keys or []), key_type)


def problem(spec: PartitionSpec, found: Parent | None) -> str | None:
    """Why the table cannot be maintained as ``spec`` says, and what to do; None when it can."""
    table = spec.target
    if found is None:
        return (
            f"table {table} does not exist: create it in a migration with "
            f"`CREATE TABLE {table} (...) PARTITION BY {spec.strategy.upper()} ({spec.key})`"
        )
    if found.kind != "p":
        return (
            f"table {table} is not partitioned: convert it with a migration "
            f"(dbplex_pg.partition_convert.convert_to_partitioned; see docs/partitioning.md, PostgreSQL)"
        )
    if found.strategy != spec.strategy or found.keys != [spec.key]:
        keys = ", ".join(k or "(expression)" for k in found.keys)
        return (
            f"table {table} is partitioned BY {str(found.strategy).upper()} ({keys}), the spec says "
            f"{spec.strategy.upper()} ({spec.key}): change the spec, or repartition the table with a migration"
        )
    if spec.is_time_range and found.key_type not in TIME_TYPES:
        return f"{table}.{spec.key} is {found.key_type}; time ranges need a date, timestamp or timestamptz column"
    if spec.strategy == "range" and spec.step is not None and found.key_type not in INTEGER_TYPES:
        return f"{table}.{spec.key} is {found.key_type}; numeric ranges need an integer column"
    return None


def children(conn: psycopg.Connection[Any], spec: PartitionSpec, oid: int) -> list[Child]:
    return children_of(spec, conn.execute(CHILDREN, [oid]).fetchall())


def children_of(spec: PartitionSpec, rows: list[Any]) -> list[Child]:
    """The partitions the rows of :data:`CHILDREN` describe."""
    return [
        Child(table, describe(spec, table, expression), bool(pending), None if tuples < 0 else round(tuples))
        for table, expression, pending, tuples in rows
    ]


def inventory(spec: PartitionSpec, found: Parent, children_: list[Child]) -> Inventory:
    """What the catalog alone says of a partitioned table: its partitions and their states."""
    return Inventory(
        partitions=existing(children_),
        # PostgreSQL refuses a row in the default partition that a real partition takes
        default_exclusive=True,
        details={"table": f"{found.schema}.{spec.target}", "key type": found.key_type},
    )


def renamed(children_: list[Child]) -> dict[str, str]:
    """Partition name -> table, for the partitions whose table is named otherwise."""
    return {c.partition.name: c.table for c in children_ if c.table != c.partition.name}


def describe(spec: PartitionSpec, table: str, expression: str) -> Partition:
    """The :class:`Partition` of ``spec`` that a child with bound ``expression`` is."""
    target = spec.target
    if expression == "DEFAULT":
        return Partition(target=target, kind="default", label="default")
    if match := _HASH.fullmatch(expression):
        modulus, remainder = int(match["modulus"]), int(match["remainder"])
        return Partition(target=target, kind="hash", label=f"h{remainder}", modulus=modulus, remainder=remainder)
    if match := _LIST.fullmatch(expression):
        values = tuple(values_of(match["values"]))
        label = next(
            (s for s, v in spec.lists.items() if sorted(map(str, v)) == sorted(map(str, values))),
            table.removeprefix(f"{target}_"),
        )
        return Partition(target=target, kind="list", label=label, values=values)
    if match := _RANGE.fullmatch(expression):
        lower, upper = (_bound(v) for v in (match["lower"], match["upper"]))
        return Partition(
            target=target, kind="range", label=_range_label(spec, table, lower, upper), lower=lower, upper=upper
        )
    raise ValueError(f"partition {table}: cannot read its bound {expression!r}")


def values_of(text: str) -> list[str | int]:
    """The values of a list bound: quoted text, or bare numbers."""
    found: list[str | int] = []
    for match in _VALUE.finditer(text):
        if match["text"] is not None:
            found.append(match["text"].replace("''", "'"))
        else:
            found.append(int(match["bare"]) if match["bare"].lstrip("-").isdigit() else match["bare"])
    return found


def _bound(text: str) -> Bound | None:
    """One range bound: a timestamp or date (as an aware UTC datetime), an integer, or None (MIN/MAXVALUE)."""
    values = values_of(text)
    if len(values) != 1:
        raise ValueError(f"a multi-column bound ({text}) is not a dbplex partition")
    value = values[0]
    if isinstance(value, int):
        return value
    if value in ("MINVALUE", "MAXVALUE"):
        return None
    return parse_time(value)


def parse_time(text: str) -> datetime:
    """``2026-11-01``, ``2026-11-01 00:00:00`` or ``2026-11-01 00:00:00+00`` as a UTC datetime."""
    moment = datetime.fromisoformat(_OFFSET.sub(r"\1:00", text))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _range_label(spec: PartitionSpec, table: str, lower: Bound | None, upper: Bound | None) -> str:
    """The spec's label for an aligned range partition; else the table name past ``target_p``."""
    interval = spec.time_interval
    aligned = interval is not None and isinstance(lower, datetime) and interval.floor(lower) == lower
    if aligned and interval is not None and isinstance(lower, datetime) and interval.add(lower) == upper:
        return interval.label(lower)
    if spec.step is not None and isinstance(lower, int) and upper == lower + spec.step:
        return str(lower)
    prefix = f"{spec.target}_p" if table.startswith(f"{spec.target}_p") else f"{spec.target}_"
    return table.removeprefix(prefix)


def existing(children_: list[Child]) -> list[Existing]:
    return [
        Existing(
            partition=c.partition,
            state="detaching" if c.pending else "attached",
            rows=c.rows,
            rows_estimated=c.rows is not None,
        )
        for c in children_
    ]


def missing_indexes(conn: psycopg.Connection[Any], oid: int) -> list[tuple[str, str, str]]:
    """(parent index, its definition, partition) for each partition that lacks a parent's index."""
    return [(i, d, c) for i, d, c in conn.execute(_MISSING_INDEXES, [oid]).fetchall()]


def writable_columns(conn: psycopg.Connection[Any], oid: int) -> list[str]:
    """The parent's columns that an INSERT may name (not dropped, not generated)."""
    return [name for (name,) in conn.execute(_COLUMNS, [oid]).fetchall()]


def fence_of(conn: psycopg.Connection[Any], default: str, name: str) -> str | None:
    row = conn.execute(_FENCE, [default, name]).fetchone()
    return row[0] if row else None


def as_utc(value: date | datetime) -> datetime:
    """A key value read from a date or timestamp column as an aware UTC datetime."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def unattached(conn: psycopg.Connection[Any], oid: int, prefix: str) -> list[str]:
    """Tables next to the parent (same schema) whose names start with ``prefix`` and that are not
    partitions: detached ones, or tables made by hand."""
    return [name for (name,) in conn.execute(_UNATTACHED, {"oid": oid, "prefix": prefix}).fetchall()]


def standalone(conn: psycopg.Connection[Any], table: str) -> bool:
    """Whether ``table`` exists as a table of its own (not a partition of anything)."""
    row = conn.execute(_STANDALONE, [table]).fetchone()
    return bool(row and row[0])


def text_order(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    """Columns of ``table`` that PostgreSQL orders by a collation (or an enum's own order), each with
    how to order them by code point as the core does: ``collate`` (``col COLLATE "C"``) or ``cast``
    (``col::text COLLATE "C"``: citext, enums, domains)."""
    return text_order_of(conn.execute(TEXT_COLUMNS, [table]).fetchall())


def text_order_of(rows: list[Any]) -> dict[str, str]:
    """:func:`text_order` from the rows of :data:`TEXT_COLUMNS`."""
    return {name: "collate" if type_name in _PLAIN_TEXT else "cast" for name, type_name, _category in rows}
