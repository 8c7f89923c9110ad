"""The canonical text of a value and the digest of a row, equal across backends for equal data.

A mirror check compares rows that live in different databases, so it compares what every
backend can produce the same way: a text form of each value, joined into one row text, hashed.
PostgreSQL computes the same text and hash in SQL (``dbplex_pg.check``); MongoDB and Redis
rows are hashed here, client-side. The forms:

========================  ===================================================================
value                     canonical text
========================  ===================================================================
None, absent              ``\\x1e`` (the record-separator character alone)
bool                      ``true`` / ``false``
int                       decimal digits, ``-`` for negatives
float                     an integral float below 2**53 as an int (``2.0`` -> ``2``), else ``repr``
str                       itself
datetime                  UTC, millisecond precision: ``2026-11-25T13:30:00.000Z`` (naive = UTC);
                          milliseconds because that is all a BSON date keeps
date                      ``2026-11-25``
bytes                     lowercase hex
anything else             ``str(value)`` (``Decimal``, ``UUID``, ``ObjectId``)
========================  ===================================================================

Values are compared by text, not by type: a Redis hash holds only strings, so ``"5"`` there
equals ``5`` in PostgreSQL. A row's text is its key's text and then each compared field's,
joined by ``\\x1f``; its digest is the first 15 hex digits of the text's MD5 as an integer, and
a segment's checksum is the plain sum of its rows' digests, so the order rows are read in does
not matter and SQL's ``sum()`` computes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

NULL = "\x1e"
SEPARATOR = "\x1f"
#: hex digits of the MD5 a row digest keeps: 60 bits, so PostgreSQL sums them as bigints.
DIGEST_HEX = 15
_EXACT_FLOAT = 2**53


def text(value: Any) -> str:
    """``value``'s canonical text (see the module's table)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_FLOAT:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is None else value.astimezone(dt.timezone.utc)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def row_text(key: Any, values: Sequence[Any]) -> str:
    """The text a row's digest is taken of: the key, then each compared value, in order."""
    return SEPARATOR.join([text(key), *map(text, values)])


def digest(key: Any, values: Sequence[Any]) -> int:
    """A row's digest: the first 60 bits of the MD5 of its canonical text."""
    md5 = hashlib.md5(row_text(key, values).encode("utf-8"), usedforsecurity=False)
    return int(md5.hexdigest()[:DIGEST_HEX], 16)


def checksum(digests: Iterable[int]) -> int:
    """A segment's checksum: the sum of its rows' digests (order-free, as SQL's ``sum()``)."""
    return sum(digests)
