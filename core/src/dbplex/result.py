"""What every operation returns, whichever backend ran it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from dbplex.errors import OpError

T = TypeVar("T")


class Result:
    """Rows as dicts plus the number of records an operation changed.

    Record ops return rows shaped ``{"key": ..., "values": {...}}``; backend ops return the
    rows the driver gave (SQL rows by column name, Mongo documents, Redis replies wrapped as
    ``{"value": ...}``).
    """

    __slots__ = ("affected", "rows")

    def __init__(self, rows: list[dict[str, Any]] | None = None, affected: int | None = None) -> None:
        self.rows: list[dict[str, Any]] = rows if rows is not None else []
        #: records inserted, replaced, updated or deleted; None when the op does not count.
        self.affected = affected

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and (self.rows, self.affected) == (other.rows, other.affected)

    def __repr__(self) -> str:
        return f"Result(rows={len(self.rows)}, affected={self.affected})"

    def first(self) -> dict[str, Any] | None:
        """The first row, or None when there is none."""
        return self.rows[0] if self.rows else None

    def one(self) -> dict[str, Any]:
        """The only row; an error when there are none or several."""
        if len(self.rows) != 1:
            raise OpError(f"expected exactly one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, or None when there is no row."""
        if not self.rows:
            return None
        return next(iter(self.rows[0].values()), None)

    def as_(self, type_: type[T]) -> list[T]:
        """Rows converted to ``type_`` (usually a msgspec Struct), validating every field."""
        try:
            return msgspec.convert(self.rows, list[type_], strict=False)  # type: ignore[valid-type]
        except msgspec.ValidationError as exc:
            raise OpError(f"rows do not fit {type_.__name__}: {str(exc).replace('`$', '`row')}") from None

    def to_builtins(self) -> dict[str, Any]:
        """JSON-ready form: ``{"rows": [...], "affected": n}``.

        Bytes become base64; driver types with no JSON form (a MongoDB ObjectId, a Decimal128)
        become their string form, so any row can be printed.
        """
        return {"rows": msgspec.to_builtins(self.rows, enc_hook=str), "affected": self.affected}
