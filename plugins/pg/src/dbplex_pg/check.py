"""PostgreSQL's :class:`~dbplex.check.backend.Checker`: rules as SQL, checksums as SQL aggregates.

Segments' checksums are computed in the server, every range of a bisection level in one query: each row's canonical text (the forms of
:mod:`dbplex.check.canonical`, written in SQL per column type) is hashed with ``md5``, its first
15 hex digits read as a 60-bit integer, and summed, so only two numbers cross the network.

A table laid out as the uniform ops write it (``key text``, ``data jsonb``: what ``dbplex sync``
copies into) is a table of uniform records, as a Redis table name without ``*`` is: a field that
is not one of its columns is read from the ``data`` document (absent: null), decoded as the
record ops decode it. Rules over such fields are evaluated by core over the streamed values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from psycopg import sql

from dbplex.backends import Source
from dbplex.check.backend import Outcome, Row, Segment
from dbplex.check.evaluate import fields_of
from dbplex.check.rules import Duplicate, Freshness, Invalid, Missing, Rule
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex_pg.translate import decode_record

_INTEGERS = {"int2", "int4", "int8"}
#: columns whose values are their canonical text, so a lookup compares them as they are (and uses an index).
_TEXTS = {"text", "varchar"}
_NUMBERS = _INTEGERS | {"float4", "float8", "numeric"}
_TIMESTAMP = '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\''
#: the columns of a table of uniform records (:mod:`dbplex_pg.translate`).
_RECORDS = {"key": "text", "data": "jsonb"}


def canonical_sql(column: str, type_name: str) -> sql.Composable:
    """SQL computing ``column``'s canonical text (NULL as chr(30)), matching ``canonical.text``."""
    ident = sql.Identifier(column)
    if type_name == "timestamptz":
        expr: sql.Composable = sql.SQL("to_char({} AT TIME ZONE 'UTC', " + _TIMESTAMP + ")").format(ident)
    elif type_name == "timestamp":
        expr = sql.SQL("to_char({}, " + _TIMESTAMP + ")").format(ident)
    elif type_name == "bytea":
        expr = sql.SQL("encode({}, 'hex')").format(ident)
    else:
        expr = sql.SQL("{}::text").format(ident)
    return sql.SQL("coalesce({}, chr(30))").format(expr)


class PgChecker:
    """Reads through the source's pool; ``reads`` counts the rows the server read for it."""

    ordered = True

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.reads = 0
        self._columns: dict[str, dict[str, str]] = {}
        self._keys: dict[str, str] = {}

    # -- catalog --------------------------------------------------------------------------------

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> type name of ``table``; a ConfigError when there is no such table."""
        found = self._columns.get(table)
        if found is None:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    (table,),
                ).fetchall()
            if not rows:
                raise ConfigError(f"source {self.source.name!r}: no table {table!r}")
            found = self._columns[table] = dict(rows)
        return found

    def key(self, table: str, key: str | None) -> str:
        """``key``, checked to be a column, or the table's single-column primary key (looked up once)."""
        if key is not None:
            self.column(table, key)
            return key
        if table in self._keys:
            return self._keys[table]
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
                (table,),
            ).fetchall()
        if len(rows) != 1:
            raise ConfigError(
                f"source {self.source.name!r}: table {table!r} has no single-column primary key; name the `key`"
            )
        found = self._keys[table] = str(rows[0][0])
        return found

    def column(self, table: str, column: str) -> str:
        types = self.columns(table)
        if column not in types:
            raise ConfigError(f"source {self.source.name!r}: table {table!r} has no column {column!r}")
        return types[column]

    def _document(self, table: str, field: str) -> bool:
        """Whether ``field`` is read from the ``data`` document of a table of uniform records."""
        types = self.columns(table)
        return field not in types and types == _RECORDS

    def _select(self, table: str, key: str, fields: Sequence[str]) -> tuple[sql.Composable, list[bool]]:
        """The select list of ``key`` and ``fields`` (columns, or a record's document fields as
        JSON text), and which of the fields are document fields."""
        documents = [self._document(table, f) for f in fields]
        parts: list[sql.Composable] = [sql.Identifier(key)]
        for field, document in zip(fields, documents, strict=True):
            if document:
                parts.append(sql.SQL("(data -> {})::text").format(sql.Literal(field)))
            else:
                self.column(table, field)
                parts.append(sql.Identifier(field))
        return sql.SQL(", ").join(parts), documents

    def _params(self, table: str, column: str, texts: Sequence[str]) -> tuple[sql.Composable, list[Any]]:
        """``column = ANY(%s)`` with ``texts`` in the column's type (integers that are not are
        left out), so the column's index serves the lookup; other types compare their text."""
        type_name = self.column(table, column)
        if type_name in _INTEGERS:
            return sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)), [int(t) for t in texts if _is_int(t)]
        if type_name in _TEXTS:
            return sql.SQL("{} = ANY(%s::text[])").format(sql.Identifier(column)), list(texts)
        return sql.SQL("{} = ANY(%s)").format(canonical_sql(column, type_name)), list(texts)

    # -- the Checker protocol -------------------------------------------------------------------

    def _ordered(self, table: str, column: str) -> sql.Composable:
        """``column`` as keys are ordered: text by code point (``COLLATE "C"``), as every side orders it."""
        ident = sql.Identifier(column)
        return sql.SQL('{} COLLATE "C"').format(ident) if self.column(table, column) in _TEXTS else ident

    def batches(
        self, table: str, key: str | None, fields: Sequence[str], batch: int, lo: Any = None, hi: Any = None
    ) -> Iterator[list[Row]]:
        column = self.key(table, key)
        select, documents = self._select(table, column, fields)
        ordered = self._ordered(table, column)
        after: Any = None
        while True:
            where = [sql.SQL("{} > %s").format(ordered)] if after is not None else []
            params: list[Any] = [after] if after is not None else []
            if lo is not None and after is None:
                where.append(sql.SQL("{} >= %s").format(ordered))
                params.append(lo)
            if hi is not None:
                where.append(sql.SQL("{} < %s").format(ordered))
                params.append(hi)
            query = sql.SQL("SELECT {} FROM {}{} ORDER BY {} LIMIT %s").format(
                select,
                sql.Identifier(table),
                sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
                ordered,
            )
            with self.pool.connection() as conn:
                rows = conn.execute(query, [*params, batch]).fetchall()
            self.reads += len(rows)
            if not rows:
                return
            yield [_row(row, documents) for row in rows]
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def rows(self, table: str, key: str | None, fields: Sequence[str], keys: Sequence[str]) -> list[Row]:
        column = self.key(table, key)
        where, values = self._params(table, column, keys)
        select, documents = self._select(table, column, fields)
        with self.pool.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE {}").format(select, sql.Identifier(table), where), [values]
            ).fetchall()
        self.reads += len(rows)
        return [_row(row, documents) for row in rows]

    def existing(self, table: str, field: str | None, values: Sequence[str]) -> set[str]:
        column = self.key(table, field)
        where, params = self._params(table, column, values)
        text = canonical_sql(column, self.column(table, column))
        query = sql.SQL("SELECT DISTINCT {} FROM {} WHERE {}").format(text, sql.Identifier(table), where)
        with self.pool.connection() as conn:
            found = {row[0] for row in conn.execute(query, [params]).fetchall()}
        self.reads += len(values)
        return found

    def count(self, table: str) -> int:
        self.columns(table)
        with self.pool.connection() as conn:
            (rows,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone() or (0,)
        self.reads += int(rows)
        return int(rows)

    def bounds(self, table: str, key: str | None) -> tuple[Any, Any] | None:
        column = self.key(table, key)
        query = sql.SQL("SELECT min({0}), max({0}) FROM {1}").format(
            self._ordered(table, column), sql.Identifier(table)
        )
        with self.pool.connection() as conn:
            low, high = conn.execute(query).fetchone() or (None, None)
        self.reads += 2
        return None if low is None else (low, high)

    def segments(self, table: str, key: str | None, fields: Sequence[str], edges: Sequence[Any]) -> list[Segment]:
        column = self.key(table, key)
        parts = [canonical_sql(c, self.column(table, c)) for c in (column, *fields)]
        row_text = sql.SQL("concat_ws(chr(31), {})").format(sql.SQL(", ").join(parts))
        ordered = self._ordered(table, column)
        array = sql.SQL("text" if self.column(table, column) in _TEXTS else "bigint")
        inner = list(edges[1:-1])
        # width_bucket gives the number of inner edges <= key: the range's index
        bucket = sql.SQL("width_bucket({}, %s::{}[])").format(ordered, array) if inner else sql.SQL("0")
        upper = sql.SQL(" AND {} < %s").format(ordered) if edges[-1] is not None else sql.SQL("")
        query = sql.SQL(
            "SELECT {0} AS b, count(*), sum(('x' || substr(md5({1}), 1, 15))::bit(60)::bigint) "
            "FROM {2} WHERE {3} >= %s{4} GROUP BY 1"
        ).format(bucket, row_text, sql.Identifier(table), ordered, upper)
        params = [*([inner] if inner else []), edges[0], *([edges[-1]] if edges[-1] is not None else [])]
        with self.pool.connection() as conn:
            found = {b: (int(count), int(total)) for b, count, total in conn.execute(query, params).fetchall()}
        segments = [Segment(*found.get(i, (0, 0))) for i in range(len(edges) - 1)]
        self.reads += sum(s.count for s in segments)
        return segments

    def evaluate(self, table: str, key: str | None, rule: Rule, sample: int) -> Outcome | None:
        if any(self._document(table, f) for f in fields_of(rule)):
            return None
        predicate = self._predicate(table, rule)
        if isinstance(rule, Freshness):
            self.column(table, rule.field)
            query = sql.SQL("SELECT count(*), max({}) FROM {}").format(
                sql.Identifier(rule.field), sql.Identifier(table)
            )
            with self.pool.connection() as conn:
                rows, newest = conn.execute(query).fetchone() or (0, None)
            self.reads += int(rows)
            return Outcome(failed=0, value=newest)
        if predicate is None:
            return None
        column = sql.Identifier(self.key(table, key))
        ident = sql.Identifier(table)
        with self.pool.connection() as conn:
            total, failed = conn.execute(
                sql.SQL("SELECT count(*), count(*) FILTER (WHERE {}) FROM {}").format(predicate, ident)
            ).fetchone() or (0, 0)
            keys = conn.execute(
                sql.SQL("SELECT {0} FROM {1} WHERE {2} ORDER BY {0} LIMIT %s").format(column, ident, predicate),
                (sample,),
            ).fetchall()
        self.reads += int(total)
        return Outcome(failed=int(failed), keys=[row[0] for row in keys])

    def _predicate(self, table: str, rule: Rule) -> sql.Composable | None:
        """The SQL condition a failing row meets, or None when the rule is not pushed down."""
        if isinstance(rule, Missing):
            for field in rule.fields:
                self.column(table, field)
            return sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(f)) for f in rule.fields)
        if isinstance(rule, Duplicate):
            cols = sql.SQL(", ").join(sql.Identifier(f) for f in rule.fields)
            for field in rule.fields:
                self.column(table, field)
            not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(f)) for f in rule.fields)
            return sql.SQL("({0}) IN (SELECT {0} FROM {1} WHERE {2} GROUP BY {0} HAVING count(*) > 1)").format(
                cols, sql.Identifier(table), not_null
            )
        if isinstance(rule, Invalid) and rule.type is None:
            type_name = self.column(table, rule.field)
            ident = sql.Identifier(rule.field)
            if (rule.min is not None or rule.max is not None) and type_name not in _NUMBERS:
                return None  # every non-number fails a range: said by the streamed evaluation
            checks: list[sql.Composable] = []
            if rule.values is not None:
                from dbplex.check import canonical

                texts = [canonical.text(v) for v in rule.values]
                checks.append(
                    sql.SQL("NOT ({} = ANY({}))").format(canonical_sql(rule.field, type_name), sql.Literal(texts))
                )
            if rule.min is not None:
                checks.append(sql.SQL("{} < {}").format(ident, sql.Literal(rule.min)))
            if rule.max is not None:
                checks.append(sql.SQL("{} > {}").format(ident, sql.Literal(rule.max)))
            if rule.regex is not None:
                checks.append(
                    sql.SQL("{} !~ {}").format(canonical_sql(rule.field, type_name), sql.Literal(f"^(?:{rule.regex})$"))
                )
            return sql.SQL("{} IS NOT NULL AND ({})").format(ident, sql.SQL(" OR ").join(checks))
        return None


def _row(row: Sequence[Any], documents: Sequence[bool]) -> Row:
    """A selected row as (key, values), document fields decoded from their JSON text."""
    values = (
        decode_record(v.encode()) if document and v is not None else v
        for v, document in zip(row[1:], documents, strict=True)
    )
    return row[0], tuple(values)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
