"""Operations as data.

The uniform record operations below (the YCSB interface) mean the same on every backend:

* :class:`Put` writes the whole record: inserts it, or replaces every field of an existing one.
* :class:`Update` sets the given fields of an existing record; ``affected`` says whether it existed.
  A missing record is not created.
* :class:`Get` returns one row ``{"key": ..., "values": {...}}``, or no row for a missing key.
* :class:`Delete` removes a record; ``affected`` says whether there was one.
* :class:`PutMany` writes whole records of one table as :class:`Put` writes each, in one round
  trip where the backend can (``affected`` is the number of records). It is not atomic: a
  failure may leave some of the records written. A backend without it raises
  :class:`~dbplex.errors.UnsupportedError`: a caller then writes one ``Put`` per record, as
  ``dbplex sync`` does.
* :class:`Scan` returns up to ``limit`` records with ``key >= start_key``, in code-point order
  of the keys.

``fields`` selects a subset of a record's fields. Keys, field names and values are checked
against the uniform value domain (:mod:`dbplex.values`) when an op is built or decoded, so
every backend accepts and refuses the same things; values round-trip with their types. Table
names are identifiers. Backends add their own op types (registered with their backend) for
what the uniform ones cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar

import msgspec

from dbplex.errors import InvalidValue, OpError
from dbplex.values import MAX_DEPTH, check_fields, check_key, check_record

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_checked_tables: set[str] = set()

Table = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
Key = Annotated[str, msgspec.Meta(min_length=1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


def check_table(table: str) -> None:
    """Raise :class:`OpError` unless ``table`` is an identifier (cached: this is the hot path)."""
    if table in _checked_tables:
        return
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise OpError(f"table {table!r}: must be an identifier of letters, digits and _ (at most 63)")
    _checked_tables.add(table)


class Op(msgspec.Struct, frozen=True, tag_field="op", forbid_unknown_fields=True):
    """Base of every operation; ``op`` in JSON names the concrete type."""

    #: True for operations that only read, so a router may send them to a replica.
    is_read: ClassVar[bool] = False
    #: how slow-operation logs show fields while redacting (:mod:`dbplex.slowlog.redact`), by
    #: field name: ``keep`` (as it is), ``sql`` (statement text, literals hidden) or ``command``
    #: (a command's name kept, its arguments hidden); any other field shows its shape only.
    redaction: ClassVar[Mapping[str, str]] = {}


class _Keyed(Op, frozen=True):
    """An op on one record: a table and a key."""

    table: Table
    key: Key

    def __post_init__(self) -> None:
        check_table(self.table)
        check_key(self.key)


class Get(_Keyed, frozen=True, tag="get"):
    """Read one record."""

    fields: list[str] | None = None
    is_read: ClassVar[bool] = True

    def __post_init__(self) -> None:
        # _Keyed's checks written out, a table seen before without a call: a Get is built per read
        if self.table not in _checked_tables:
            check_table(self.table)
        check_key(self.key)
        if self.fields is not None:
            check_fields(self.fields)


class _Write(_Keyed, frozen=True):
    """An op that writes fields of one record."""

    values: dict[str, Any]

    def __post_init__(self) -> None:
        super().__post_init__()
        check_record(self.values)


class Put(_Write, frozen=True, tag="put"):
    """Insert or replace a whole record."""


class Update(_Write, frozen=True, tag="update"):
    """Set some fields of an existing record."""


class Delete(_Keyed, frozen=True, tag="delete"):
    """Remove one record."""


class PutMany(Op, frozen=True, tag="put_many"):
    """Insert or replace whole records of one table, ``records`` by key, in one round trip."""

    table: Table
    records: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        check_table(self.table)
        if not 1 <= len(self.records) <= 100_000:
            raise OpError(f"records: {len(self.records)} given, must be between 1 and 100000")
        for key, values in self.records.items():
            check_key(key)
            check_record(values)


class Scan(Op, frozen=True, tag="scan"):
    """Read up to ``limit`` records from ``start_key`` on, in key order."""

    table: Table
    start_key: str = ""
    limit: Limit = 100
    fields: list[str] | None = None
    is_read: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_table(self.table)
        check_key(self.start_key, what="start_key", allow_empty=True)
        if self.fields is not None:
            check_fields(self.fields)
        if not 1 <= self.limit <= 100_000:
            raise OpError(f"limit {self.limit}: must be between 1 and 100000")


UNIFORM_OPS: tuple[type[Op], ...] = (Get, Put, Update, Delete, Scan, PutMany)
#: the uniform ops that write one record (``table``, ``key``): what invalidates a cache entry.
RECORD_WRITES = (Put, Update, Delete)


def decode(text: str | bytes, extra: Iterable[type[Op]] = ()) -> Op:
    """Decode one op from JSON, e.g. ``{"op": "get", "table": "t", "key": "k1"}``.

    ``extra`` are a backend's own op types. Errors name the offending field.
    """
    types = (*UNIFORM_OPS, *extra)
    try:
        return msgspec.json.decode(text, type=types[0] if len(types) == 1 else _union(types))
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`$.", "`").replace("`$`", "the op")
        tags = ", ".join(sorted(_tag(t) for t in types))
        if "op" in message and ("Invalid value" in message or "missing required field `op`" in message):
            message += f" (known ops: {tags})"
        raise OpError(f"op JSON: {message}") from None
    except msgspec.DecodeError as exc:
        raise OpError(f"op JSON: not valid JSON: {exc}") from None
    except RecursionError:  # the decoder gives up around 1000 levels, long past the value rules' limit
        raise InvalidValue(f"op JSON: nested too deeply: values nest at most {MAX_DEPTH} lists and dicts") from None
    except OpError as exc:
        raise type(exc)(f"op JSON: {exc}") from None


def _tag(op_type: type[Op]) -> str:
    return str(msgspec.inspect.type_info(op_type).tag)  # type: ignore[attr-defined]


def _union(types: tuple[type[Op], ...]) -> Any:
    union: Any = types[0]
    for t in types[1:]:
        union = union | t
    return union


def to_builtins(op: Op) -> Mapping[str, Any]:
    """The op as JSON-ready data, with its ``op`` tag."""
    return msgspec.to_builtins(op)  # type: ignore[no-any-return]
