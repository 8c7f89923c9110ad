"""Portable types of values a backend holds without a declared schema: sampled documents, and
the text of Redis hash fields; merged over every value seen."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal

from dbplex.schema.model import PortableType

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_BOOLEANS = {"true", "false"}


def of_value(value: object) -> PortableType:
    """The portable type of a decoded value (a driver's Python value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "unknown"


def of_text(text: str) -> PortableType:
    """The narrowest portable type ``text`` spells: ``42`` an integer, ``2026-01-05`` a date."""
    if _INTEGER.fullmatch(text):
        return "integer"
    if _NUMBER.fullmatch(text):
        return "number"
    if text.lower() in _BOOLEANS:
        return "boolean"
    if _DATE.fullmatch(text):
        return "date"
    if _TIMESTAMP.fullmatch(text):
        return "timestamp"
    return "string"


def merge(types: Iterable[PortableType], textual: bool = False) -> PortableType:
    """One type for a field seen with ``types``: nulls do not count, integers widen to numbers and
    dates to timestamps; anything else mixed is ``unknown`` (``string`` when ``textual``, since
    text that spells several types is still text)."""
    seen = set(types) - {"null"}
    if not seen:
        return "null"
    if len(seen) == 1:
        return seen.pop()
    if seen <= {"integer", "number"}:
        return "number"
    if seen <= {"date", "timestamp"}:
        return "timestamp"
    return "string" if textual else "unknown"
