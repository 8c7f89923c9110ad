"""PostgreSQL's :class:`~dbplex.schema.model.Describer`: columns from ``pg_attribute``, and
``ALTER TABLE`` migrations that add or retype them.

A table name may be schema-qualified (``public.games``); it is resolved as ``to_regclass``
resolves it, through the session's ``search_path``. ``NOT NULL`` is *required*; an array type
is ``array``, ``json``/``jsonb`` are ``object``. A single-column primary key is the table's
``key``.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from dbplex.analyze.model import MigrationFile
from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex.schema.diff import fits
from dbplex.schema.model import FieldShape, PortableType, TableShape, migration_name

_PORTABLE: dict[str, PortableType] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), "integer"),
    **dict.fromkeys(("float4", "float8", "numeric", "money"), "number"),
    **dict.fromkeys(("text", "varchar", "bpchar", "name", "uuid", "citext", "char", "inet", "cidr"), "string"),
    "bool": "boolean",
    **dict.fromkeys(("timestamp", "timestamptz"), "timestamp"),
    "date": "date",
    "bytea": "binary",
    **dict.fromkeys(("json", "jsonb"), "object"),
}

#: the column type a proposed migration gives each portable type.
_COLUMN: dict[PortableType, str] = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
    "binary": "bytea",
    "object": "jsonb",
    "array": "jsonb",
    "null": "text",
    "unknown": "jsonb",
}

_COLUMNS = (
    "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attnotnull, t.typcategory "
    "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
)


def _portable(type_name: str, category: str) -> PortableType:
    return "array" if category == "A" else _PORTABLE.get(type_name, "unknown")


def _table(table: str) -> sql.Composable:
    """``table`` quoted, keeping a schema qualification."""
    return sql.SQL(".").join(sql.Identifier(part) for part in table.split(".", 1))


class PgDescriber:
    """Reads the catalog through the source's pool."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool

    def _columns(self, table: str) -> list[tuple[str, str, str, bool, str]]:
        with self.pool.connection() as conn:
            rows: list[tuple[str, str, str, bool, str]] = conn.execute(_COLUMNS, (table,)).fetchall()
        if not rows:
            raise ConfigError(f"source {self.source.name!r}: no table {table!r}")
        return rows

    def describe(self, table: str, sample: int) -> TableShape:
        fields = [
            FieldShape(name=name, type=_portable(type_name, category), required=not_null, source_type=formatted)
            for name, type_name, formatted, not_null, category in self._columns(table)
        ]
        with self.pool.connection() as conn:
            keys = [row[0] for row in conn.execute(_PRIMARY_KEY, (table,)).fetchall()]
        key = keys[0] if len(keys) == 1 else None
        return TableShape(source=self.source.name, table=table, fields=fields, key=key)

    def migration(self, table: str, wanted: Sequence[FieldShape]) -> MigrationFile | None:
        current = {row[0]: row[1:] for row in self._columns(table)}
        target = _table(table)
        ups: list[sql.Composable] = []
        downs: list[sql.Composable] = []
        for field in wanted:
            column = sql.Identifier(field.name)
            new_type = sql.SQL(_COLUMN[field.type])
            if field.name not in current:
                # NOT NULL is left out: existing rows have no value to give it; add it once filled
                ups.append(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, column, new_type))
                downs.append(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(target, column))
                continue
            type_name, old_type, old_required, category = current[field.name]
            if not fits(field.type, _portable(type_name, category)):  # retype, with a cast each way
                ups.append(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                        target, column, new_type, column, new_type
                    )
                )
                downs.append(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                        target, column, sql.SQL(old_type), column, sql.SQL(old_type)
                    )
                )
            if field.required is not None and field.required != old_required:
                change, undo = (
                    ("SET NOT NULL", "DROP NOT NULL") if field.required else ("DROP NOT NULL", "SET NOT NULL")
                )
                ups.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} " + change).format(target, column))
                downs.append(sql.SQL("ALTER TABLE {} ALTER COLUMN {} " + undo).format(target, column))
        if not ups:
            return None
        with self.pool.connection() as conn:
            up = ";\n".join(s.as_string(conn) for s in ups)
            down = ";\n".join(s.as_string(conn) for s in reversed(downs))
        text = f"-- aligns {table} with another source's shape (dbplex schema diff); review before applying\n{up};\n\n-- dbplex:down\n{down};\n"
        return MigrationFile(suffix="sql", description=migration_name(table), text=text)
