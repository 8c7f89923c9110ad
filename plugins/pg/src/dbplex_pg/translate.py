"""Ops into SQL and parameters, with no I/O (so that an asyncio twin can reuse all of it).

Uniform record ops use one table per op table name::

    CREATE TABLE "<schema>"."<table>" (key text COLLATE "C" PRIMARY KEY, data jsonb NOT NULL)

The C collation makes ``ORDER BY key`` code-point order. Their SQL is composed once per
table and pool and kept as bytes, so running an op only binds parameters. Values are stored
as JSON through :func:`dbplex.codec.to_json`, which leaves everything but bytes and
exponent-form floats plain, queryable JSONB.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec
from psycopg import sql
from psycopg.abc import AdaptContext, Buffer
from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import ExecutableDDLElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.types import TupleType

from dbplex.codec import from_json, to_json
from dbplex.errors import OpError

#: true when a table exists; takes :attr:`TableSql.regclass`.
TABLE_EXISTS = b"SELECT to_regclass(%s) IS NOT NULL"
#: taken before creating a record table, until the transaction ends (key: "dbplex" in ASCII).
TABLE_CREATION_LOCK = b"SELECT pg_advisory_xact_lock(110373955724664)"


class TableSql(NamedTuple):
    """The statements of the uniform ops on one table, ready to execute."""

    #: the quoted, schema-qualified name, as ``to_regclass`` takes it.
    regclass: str
    create: bytes
    #: parameters: key
    get: bytes
    #: parameters: key, data
    put: bytes
    #: parameters: keys, data (text arrays of one length): many puts in one statement
    put_many: bytes
    #: parameters: data to merge, key
    update: bytes
    #: parameters: key
    delete: bytes
    #: parameters: start key, limit
    scan: bytes


def table_sql(schema: str, table: str, context: AdaptContext | None = None) -> TableSql:
    """The uniform-op statements for ``schema.table``, built once per table and pool.

    ``context`` (a connection) quotes the names; psycopg before 3.2 cannot quote without one.
    """
    name = sql.Identifier(schema, table)

    def compose(template: str) -> bytes:
        return sql.SQL(template).format(t=name).as_bytes(context)

    return TableSql(
        regclass=name.as_string(context),
        create=compose('CREATE TABLE IF NOT EXISTS {t} (key text COLLATE "C" PRIMARY KEY, data jsonb NOT NULL)'),
        get=compose("SELECT data FROM {t} WHERE key = %s"),
        put=compose(
            "INSERT INTO {t} (key, data) VALUES (%s, %s::jsonb) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
        ),
        put_many=compose(
            "INSERT INTO {t} (key, data) SELECT k, d::jsonb FROM unnest(%s::text[], %s::text[]) AS r(k, d) "
            "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
        ),
        update=compose("UPDATE {t} SET data = data || %s::jsonb WHERE key = %s"),
        delete=compose("DELETE FROM {t} WHERE key = %s"),
        scan=compose("SELECT key, data FROM {t} WHERE key >= %s ORDER BY key LIMIT %s"),
    )


# -- record values -----------------------------------------------------------------------------

_encode = msgspec.json.encode
_decode = msgspec.json.decode
#: PostgreSQL prints jsonb without a space after "{", so a tagged value always shows as {"$...
_TAGGED = re.compile(rb'\{"\$')


def encode_values(values: Mapping[str, Any]) -> str:
    """A record's values as JSON text for a ``jsonb`` parameter."""
    return _encode(to_json(values)).decode()


def decode_record(data: Buffer) -> Any:
    """A ``jsonb`` column as PostgreSQL sends it (text format) back into record values.

    The walk that restores bytes and exponent-form floats only runs when the text holds a tag.
    """
    try:
        value = _decode(data)
    except msgspec.ValidationError:  # a number beyond float range, written by SQL: json reads it as inf
        value = json.loads(bytes(data))
    return value if _TAGGED.search(data) is None else from_json(value)


# -- raw SQL -----------------------------------------------------------------------------------


def sql_params(params: dict[str, Any] | list[Any] | None) -> dict[str, Any] | list[Any] | None:
    """Parameters of a :class:`~dbplex_pg.ops.SQL` op, with dicts bound as JSONB."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {name: Jsonb(value) if isinstance(value, dict) else value for name, value in params.items()}
    return [Jsonb(value) if isinstance(value, dict) else value for value in params]


_ROW_COUNTING = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"})


def affected(status: str | None, rowcount: int) -> int | None:
    """Rows changed by a statement, from its command tag (``INSERT 0 3``); None for others."""
    if status is None or rowcount < 0 or status.partition(" ")[0] not in _ROW_COUNTING:
        return None
    return rowcount


# -- SQLAlchemy Core statements ------------------------------------------------------------------

Processors = dict[str, Callable[[Any], Any]]


@functools.cache
def dialect() -> Dialect:
    """The SQLAlchemy dialect statements compile for: psycopg 3, named ``%(name)s`` parameters."""
    return psycopg_dialect.dialect()  # type: ignore[no-untyped-call]


class _Compiled(NamedTuple):
    compiled: SQLCompiler | None
    #: the DDL text, when ``compiled`` is None
    text: str
    #: bind processors (type conversions) by escaped parameter name
    processors: Processors


#: compiled forms by statement object, then by (parameter names, executemany): an INSERT or
#: UPDATE without ``.values()`` sets the columns its parameters name, as SQLAlchemy's own
#: execution does.
_compiled: weakref.WeakKeyDictionary[Executable, dict[tuple[tuple[str, ...], bool], _Compiled]] = (
    weakref.WeakKeyDictionary()
)


def _compile(statement: Executable, column_keys: tuple[str, ...], many: bool) -> _Compiled:
    if not isinstance(statement, Executable):
        raise OpError(
            f"Statement takes a SQLAlchemy Core statement (select, insert, text, ...), not {type(statement).__name__}"
        )
    shapes = _compiled.get(statement)
    if shapes is None:
        shapes = _compiled[statement] = {}
    entry = shapes.get((column_keys, many))
    if entry is not None:
        return entry
    pg = dialect()
    if isinstance(statement, ExecutableDDLElement):  # no parameters
        entry = _Compiled(None, statement.compile(dialect=pg).string, {})
    elif isinstance(statement, ClauseElement):
        compiled = statement.compile(dialect=pg, column_keys=list(column_keys), for_executemany=many)
        assert isinstance(compiled, SQLCompiler)
        escaped = compiled.escaped_bind_names
        processors: Processors = {}
        for name, bind in compiled.binds.items():
            if isinstance(bind.type, TupleType):  # always expanded; ExpandedState has their processors
                continue
            processor = bind.type.dialect_impl(pg).bind_processor(pg)
            if processor is not None:
                processors[escaped.get(name, name)] = processor
        entry = _Compiled(compiled, compiled.string, processors)
    else:
        raise OpError(f"Statement cannot compile a {type(statement).__name__}")
    shapes[(column_keys, many)] = entry
    return entry


def _expand(entry: _Compiled, params: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if entry.compiled is None:
        return entry.text, {}  # still a dict: psycopg then reads "%%" as "%", as SQLAlchemy wrote it
    state = entry.compiled.construct_expanded_state(params)
    values = dict(state.parameters)
    for processors in (entry.processors, state.processors):
        for name, processor in processors.items():
            if name in values:
                values[name] = processor(values[name])
    return state.statement, values


def compile_statement(
    statement: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
) -> tuple[str, dict[str, Any] | list[dict[str, Any]]]:
    """SQL text and bound parameters for psycopg (a list of parameter sets for ``executemany``)."""
    sets = params if isinstance(params, list) else [params or {}]
    try:
        entry = _compile(statement, tuple(sorted(sets[0])) if sets else (), len(sets) > 1)
        if not isinstance(params, list):
            return _expand(entry, params)
        expanded = [_expand(entry, one) for one in params]
    except SQLAlchemyError as exc:  # args[0]: the message without SQLAlchemy's "Background on this error" link
        raise OpError(f"statement: {exc.args[0] if exc.args else exc}") from None
    texts = {text for text, _ in expanded}
    if len(texts) > 1:
        raise OpError("statement: parameter sets that expand to different SQL cannot run together; run them one by one")
    return (texts.pop() if texts else entry.text), [values for _, values in expanded]
