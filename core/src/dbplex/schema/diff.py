"""Compare two shapes: what the second lacks, has in excess, or types so that the first's
values would not fit; and the fields the second needs to be aligned to the first.

The comparison has a direction. ``a`` is the reference (the table whose data should fit), ``b``
the table to align: a type difference is reported when ``a``'s values would not fit ``b``'s
type — an integer fits a number, a date a timestamp, anything fits a field of which only nulls
were seen, and anything fits a textual store (a Redis hash) — so ``b`` being wider is no
difference. Requiredness is compared only where both sides declare it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from dbplex.schema.model import FieldShape, PortableType, TableShape

Kind = Literal["missing", "extra", "type", "required"]

#: a's type -> the wider types of b its values fit besides its own.
_FITS: dict[PortableType, set[PortableType]] = {"integer": {"number"}, "date": {"timestamp"}}


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """One field that differs: ``missing`` from b, ``extra`` in b, of a ``type`` a's values do not
    fit in b, or ``required`` on one side only."""

    kind: Kind
    #: the field's name in a (in b for ``extra``).
    field: str
    #: its name in b, when renamed.
    renamed: str | None = None
    a: FieldShape | None = None
    b: FieldShape | None = None


class SchemaDiff(msgspec.Struct, kw_only=True):
    a: TableShape
    b: TableShape
    differences: list[Difference]

    @property
    def same(self) -> bool:
        return not self.differences


def fits(a: PortableType, b: PortableType, textual: bool = False) -> bool:
    """Whether values of type ``a`` fit a field of type ``b``."""
    return textual or a == b or "null" in (a, b) or b in _FITS.get(a, set())


def compare(a: TableShape, b: TableShape, renames: dict[str, str] | None = None) -> SchemaDiff:
    """Every difference of ``b`` from ``a``, in ``a``'s field order, then ``b``'s extra fields.

    :param renames: a field of ``a`` -> its name in ``b``.
    """
    renames = renames or {}
    differences: list[Difference] = []
    matched: set[str] = set()
    for field in a.fields:
        name = renames.get(field.name, field.name)
        renamed = name if name != field.name else None
        other = b.field(name)
        if other is None:
            if field.name == a.key and renamed is None:
                continue
            differences.append(Difference(kind="missing", field=field.name, renamed=renamed, a=field))
            continue
        matched.add(name)
        if not fits(field.type, other.type, b.textual):
            differences.append(Difference(kind="type", field=field.name, renamed=renamed, a=field, b=other))
        elif None not in (field.required, other.required) and field.required != other.required:
            differences.append(Difference(kind="required", field=field.name, renamed=renamed, a=field, b=other))
    for other in b.fields:
        if other.name not in matched and other.name != b.key:
            differences.append(Difference(kind="extra", field=other.name, b=other))
    return SchemaDiff(a=a, b=b, differences=differences)


def wanted(diff: SchemaDiff) -> list[FieldShape]:
    """The fields b needs, named as in b, typed as in a: the missing, retyped and re-required ones."""
    return [
        msgspec.structs.replace(d.a, name=d.renamed or d.field)
        for d in diff.differences
        if d.a is not None and d.kind != "extra"
    ]
