"""Turning an existing table into a partitioned one (and back) inside a migration, rows kept.

PostgreSQL cannot ALTER a table into a partitioned one, so the table is rebuilt in the
migration's transaction: the old one is renamed, a new one is created ``LIKE`` it (defaults,
CHECK constraints, identity, generated columns, storage, comments), partitions are created for
the range its rows cover, the rows are copied with their identity values, the old table is
dropped, and its keys, indexes, foreign keys, triggers and dependent views are created again.
PostgreSQL's own rules decide what cannot come back, and each such loss is returned as a note:

- a primary key gets the partition key added (a unique constraint per partition is all
  PostgreSQL enforces); another unique or exclusion constraint without it is dropped;
- a unique index made with ``CREATE UNIQUE INDEX`` (no constraint) gets the partition key added
  to its columns; one on an expression, which a partitioned table cannot have, is dropped;
- a foreign key *referencing* the table needs a unique key on exactly its columns, which after
  the conversion includes the partition key; one that no longer matches is dropped.

The copy rewrites every row while holding an ACCESS EXCLUSIVE lock: fine for the tables of a
young schema; for a large table, attach the old table as one partition instead (docs/partitioning.md).
Grants, row-level security policies and publications are not carried over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbplex.partition import Partition, PartitionSpec, fixed_partitions
from dbplex.partition.layout import number_partition, time_partition
from dbplex_pg import partition_catalog as catalog
from dbplex_pg import partition_sql as ddl

_VIEWS = """
SELECT DISTINCT v.oid, v.oid::regclass::text, pg_get_viewdef(v.oid), v.relkind
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = %s AND v.oid <> %s
ORDER BY v.oid
"""
_REFERENCING = """
SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid)
FROM pg_constraint WHERE confrelid = %s AND conrelid <> %s AND contype = 'f'
"""
_CONSTRAINTS = """
SELECT c.conname, c.contype, pg_get_constraintdef(c.oid),
       ARRAY(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k)
FROM pg_constraint c WHERE c.conrelid = %s AND c.contype IN ('p', 'u', 'x', 'f')
ORDER BY c.contype DESC, c.conname
"""
#: indexes that no constraint owns: definition, unique, on an expression, key columns (not INCLUDE ones).
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid), i.indisunique, i.indexprs IS NOT NULL,
       ARRAY(SELECT a.attname FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k)
FROM pg_index i
WHERE i.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = %s)
"""
_TRIGGERS = "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal"
_IDENTITY = """
SELECT a.attname, pg_get_serial_sequence(quote_ident(%s), a.attname)
FROM pg_attribute a WHERE a.attrelid = %s AND a.attidentity <> '' AND NOT a.attisdropped
"""


@dataclass
class _Saved:
    """What a rebuild must create again, read before the old table goes."""

    views: list[tuple[str, str]]
    referencing: list[tuple[str, str, str]]
    constraints: list[tuple[str, str, str, list[str]]]
    #: (definition, unique, on an expression, key columns)
    indexes: list[tuple[str, bool, bool, list[str]]]
    triggers: list[str]
    identity: list[tuple[str, str | None]]


def convert_to_partitioned(
    conn: psycopg.Connection[Any], spec: PartitionSpec, *, primary_key: Sequence[str] | None = None
) -> list[str]:
    """Rebuild ``spec.target`` partitioned as ``spec`` says, keeping its rows; returns notes.

    Partitions are created for the rows present (the range from the oldest to the newest key;
    the list and hash partitions of the spec); ``dbplex partition apply`` adds the rest. The
    primary key becomes ``primary_key``, by default the old one plus the partition key.
    """
    clause = sql.SQL("PARTITION BY {} ({})").format(sql.SQL(spec.strategy.upper()), sql.Identifier(spec.key))

    def key_of(columns: list[str], kind: str) -> list[str] | None:
        if kind == "p":
            return list(primary_key) if primary_key else [*columns, *([spec.key] if spec.key not in columns else [])]
        return columns if spec.key in columns else None

    return _rebuild(conn, spec.target, clause, key_of, lambda old: _partitions(conn, spec, old), spec.key)


def convert_to_plain(conn: psycopg.Connection[Any], table: str, *, primary_key: Sequence[str]) -> list[str]:
    """Rebuild the partitioned ``table`` as one plain table with the same rows; returns notes."""

    def key_of(columns: list[str], kind: str) -> list[str] | None:
        return list(primary_key) if kind == "p" else columns

    return _rebuild(conn, table, sql.SQL(""), key_of, lambda old: [])


def _rebuild(
    conn: psycopg.Connection[Any],
    table: str,
    clause: sql.Composable,
    key_of: Callable[[list[str], str], list[str] | None],
    partitions: Callable[[str], list[Partition]],
    partition_key: str | None = None,
) -> list[str]:
    notes: list[str] = []
    name, old = sql.Identifier(table), f"{table[:50]}_dbplex_old"
    conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name))
    saved = _save(conn, table)
    for view, _ in reversed(saved.views):
        conn.execute(sql.SQL("DROP VIEW {}").format(sql.SQL(view)))
    for constraint, source, _ in saved.referencing:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(source), sql.Identifier(constraint)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(name, sql.Identifier(old)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
            "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS) {}"
        ).format(name, sql.Identifier(old), clause)
    )
    for partition in partitions(old):
        conn.execute(ddl.create(table, partition))
    oid = _oid(conn, table)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in catalog.writable_columns(conn, oid))
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}").format(
            name, columns, columns, sql.Identifier(old)
        )
    )
    renames = [_carry_sequence(conn, table, column, sequence) for column, sequence in saved.identity]
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))
    for rename in renames:
        rename()
    for constraint, kind, definition, cols in saved.constraints:
        if kind == "f":
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    name, sql.Identifier(constraint), sql.SQL(definition)
                )
            )
            continue
        key = key_of(cols, kind)
        if key is None:
            notes.append(f"{table}: dropped {constraint} ({definition}): a unique key must include the partition key")
        elif kind == "x" or key == cols:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    name, sql.Identifier(constraint), sql.SQL(definition)
                )
            )
        else:
            what = sql.SQL("PRIMARY KEY" if kind == "p" else "UNIQUE")
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} ({})").format(
                    name, sql.Identifier(constraint), what, sql.SQL(", ").join(sql.Identifier(c) for c in key)
                )
            )
            notes.append(f"{table}: {constraint} is now ({', '.join(key)}), was {definition}")
    for definition, unique, on_expression, cols in saved.indexes:
        if unique and partition_key is not None and partition_key not in cols:
            if on_expression:
                notes.append(
                    f"{table}: dropped unique index ({definition}): on a partitioned table a unique index must "
                    "list the partition key and cannot be on an expression"
                )
                continue
            widened = _with_column(definition, partition_key)
            notes.append(
                f"{table}: unique index is now ({', '.join([*cols, partition_key])}), was {definition}: a unique "
                "index must include the partition key"
            )
            definition = widened
        conn.execute(sql.SQL(definition))  # catalog text, written by the server
    for statement in saved.triggers:
        conn.execute(sql.SQL(statement))  # catalog text, written by the server
    for constraint, source, definition in saved.referencing:
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                        sql.SQL(source), sql.Identifier(constraint), sql.SQL(definition)
                    )
                )
        except psycopg.errors.InvalidForeignKey:
            notes.append(
                f"{source}: dropped foreign key {constraint} ({definition}): {table} has no unique key on exactly "
                "those columns any more (it must include the partition key)"
            )
    for view, definition in saved.views:
        conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(sql.SQL(view), sql.SQL(definition.rstrip().rstrip(";"))))
    return notes


def _with_column(definition: str, column: str) -> str:
    """``pg_get_indexdef`` text with ``column`` added at the end of its key columns (the first
    parenthesised list after ``USING method``)."""
    start = definition.index("(", definition.index(" USING "))
    depth = 0
    for position in range(start, len(definition)):
        char = definition[position]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                name = sql.Identifier(column).as_string(None)
                return f"{definition[:position]}, {name}{definition[position:]}"
    raise ValueError(f"not an index definition: {definition!r}")


def _oid(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute("SELECT to_regclass(quote_ident(%s))::oid", [table]).fetchone()
    if row is None or row[0] is None:
        raise psycopg.errors.UndefinedTable(f"table {table} does not exist")
    return int(row[0])


def _save(conn: psycopg.Connection[Any], table: str) -> _Saved:
    oid = _oid(conn, table)
    views = []
    for _, view, definition, kind in conn.execute(_VIEWS, [oid, oid]).fetchall():
        if kind != "v":
            raise psycopg.errors.DependentObjectsStillExist(
                f"{view} (a materialized view) depends on {table}: drop it before the conversion, create it after"
            )
        views.append((view, definition))
    return _Saved(
        views=views,
        referencing=[tuple(r) for r in conn.execute(_REFERENCING, [oid, oid]).fetchall()],
        constraints=[(n, k, d, list(c)) for n, k, d, c in conn.execute(_CONSTRAINTS, [oid]).fetchall()],
        indexes=[(d, bool(u), bool(e), list(c)) for d, u, e, c in conn.execute(_INDEXES, [oid, oid]).fetchall()],
        triggers=[r[0] for r in conn.execute(_TRIGGERS, [oid]).fetchall()],
        identity=[(c, s) for c, s in conn.execute(_IDENTITY, [table, oid]).fetchall()],
    )


def _carry_sequence(conn: psycopg.Connection[Any], table: str, column: str, old: str | None) -> Callable[[], None]:
    """The new identity sequence continues where the old one stopped; the returned step, run once
    the old table (and its sequence) is gone, gives the new sequence the old one's name."""
    row = conn.execute(
        "SELECT s::regclass::oid, o.relname FROM pg_get_serial_sequence(quote_ident(%s), %s) s, "
        "pg_class o WHERE o.oid = %s::regclass",
        [table, column, old],
    ).fetchone()
    if row is None or old is None:
        return lambda: None
    new_oid, old_name = row
    conn.execute(sql.SQL("SELECT setval({}, last_value, is_called) FROM {}").format(sql.Literal(new_oid), sql.SQL(old)))

    def rename() -> None:
        target = sql.SQL(_regclass(conn, new_oid))
        conn.execute(sql.SQL("ALTER SEQUENCE {} RENAME TO {}").format(target, sql.Identifier(old_name)))

    return rename


def _regclass(conn: psycopg.Connection[Any], oid: int) -> str:
    row = conn.execute("SELECT %s::oid::regclass::text", [oid]).fetchone()
    return str(row[0]) if row else ""


def _partitions(conn: psycopg.Connection[Any], spec: PartitionSpec, old: str) -> list[Partition]:
    """The partitions the rows of ``old`` need: their whole key range, or the spec's fixed ones."""
    fixed = fixed_partitions(spec)
    if spec.strategy != "range":
        return fixed
    row = conn.execute(
        sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(k=sql.Identifier(spec.key), t=sql.Identifier(old))
    ).fetchone()
    low, high = row if row else (None, None)
    if low is None or high is None:
        return fixed
    found: list[Partition] = []
    interval = spec.time_interval
    if interval is not None:
        lower, top = interval.floor(catalog.as_utc(low)), catalog.as_utc(high)
        while lower <= top:
            found.append(time_partition(spec, lower))
            lower = interval.add(lower)
    elif spec.step is not None:
        first = spec.start + (int(low) - spec.start) // spec.step * spec.step
        found = [number_partition(spec, n) for n in range(first, int(high) + 1, spec.step)]
    return fixed + found
