"""The portable shape of a table, a collection or a key family, and the :class:`Describer` a
backend's ``dbplex_describe`` hook returns to read it.

Every backend names its types its own way (``int8``, ``long``, a Redis hash value that spells a
number); a shape states each field in one small type set so that two backends' shapes compare,
and keeps the backend's own name beside it for the reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from dbplex.analyze.model import MigrationFile

#: the portable types. ``null``: only nulls were seen, so the type is not known; ``unknown``: a
#: type outside the set (an interval, a geometry) or values of incompatible types.
PortableType = Literal[
    "string", "integer", "number", "boolean", "timestamp", "date", "binary", "object", "array", "null", "unknown"
]


class FieldShape(msgspec.Struct, frozen=True, kw_only=True):
    """One field (column) as a backend describes it."""

    name: str
    type: PortableType
    #: True when the schema demands a value (PostgreSQL ``NOT NULL``, a validator's ``required``),
    #: False when it declares the field optional, None when nothing declares it (a sampled field).
    required: bool | None = None
    #: the backend's own type name: ``int8``, ``["int", "long"]``, ``sampled: int, null``.
    source_type: str = ""


class TableShape(msgspec.Struct, kw_only=True):
    """A table's, collection's or key family's fields, and how they were found out."""

    source: str
    table: str
    fields: list[FieldShape]
    #: the field that is each record's own key (PostgreSQL's single-column primary key, MongoDB's
    #: ``_id``), compared only when the other side has a field of that name (or one renamed to
    #: it): the other side keeps its key its own way (``_id``, a Redis key's suffix).
    key: str | None = None
    #: every value is stored as text (a Redis hash): any type fits it, inferred types are hints.
    textual: bool = False
    #: records read to infer fields (0: the catalog or a validator alone).
    sampled: int = 0
    #: how the shape was read, where it is less than exact (one line each).
    notes: list[str] = []

    def field(self, name: str) -> FieldShape | None:
        return next((f for f in self.fields if f.name == name), None)


class Describer(Protocol):
    """One source's schema backend; its connections come from the hub's pools (no I/O when made)."""

    def describe(self, table: str, sample: int) -> TableShape:
        """The shape of ``table`` (a table, collection or ``prefix*`` key family), from its
        catalog or validator and at most ``sample`` sampled records; a ConfigError when there is
        no such table."""

    def migration(self, table: str, wanted: Sequence[FieldShape]) -> MigrationFile | None:
        """The migration giving ``table`` the ``wanted`` fields (added, or retyped to the given
        type and requiredness), with a down part restoring what it holds now; None when the
        backend keeps no schema to change (a Redis key family)."""


def migration_name(table: str) -> str:
    """The description of the migration aligning ``table``: ``align_`` and the name in letters,
    digits and ``_`` (so a second proposal before it is applied is recognised and not written twice)."""
    return "align_" + re.sub(r"[^A-Za-z0-9_]", "_", table)
