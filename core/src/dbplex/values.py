"""The uniform value domain: the keys, field names and values every backend stores exactly.

The three databases disagree at the edges: PostgreSQL's JSONB keeps integers of any size and
NaN, Redis's MessagePack keeps integers up to 2**64 - 1, MongoDB refuses anything past 64-bit
signed; PostgreSQL's key index refuses entries past about 2700 bytes; MongoDB stops at 100
levels of nesting and PostgreSQL's JSON encoder at a few hundred. So the uniform ops check here,
when they are built (or decoded from JSON), before any backend sees them, and every backend
then accepts or refuses the same things. The limits:

* a key (and a Scan's ``start_key``) is a string without NUL of at most :data:`MAX_KEY_BYTES`
  bytes of UTF-8 — far below PostgreSQL's btree limit and MongoDB's old 1024-byte index limit;
* a field name is non-empty, has no ``.`` or NUL, does not start with ``$`` and is not ``_id``
  (MongoDB's rules, the strictest); keys of nested dicts follow the same rules but may be ``_id``;
* a value is str, bytes, int in [-2**63, 2**63 - 1], finite float, bool, None, or a list, tuple
  (stored as a list) or dict of these, nested at most :data:`MAX_DEPTH` lists and dicts deep —
  MongoDB counts the document itself as a level and refuses past 100.

Types are checked exactly (``type(v) is int``, not ``isinstance``): a str or int subclass, a
bytearray or a datetime is stored differently by each backend, or by none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dbplex.errors import InvalidValue

#: Longest key, in bytes of UTF-8.
MAX_KEY_BYTES = 512
#: Deepest nesting of lists and dicts inside one field's value (``[[1]]`` is 2 deep).
MAX_DEPTH = 64
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

_FIELD = re.compile(r"[^$.\x00][^.\x00]*")
_FIELD_RULE = "field names are non-empty, have no '.' or NUL, do not start with '$' and are not '_id'"
_NESTED_RULE = "keys of nested dicts are strings that are non-empty, have no '.' or NUL and do not start with '$'"
_TYPES = "str, bytes, int, float, bool, None, list, tuple or dict"
_TOO_DEEP = f"nested too deeply: values nest at most {MAX_DEPTH} lists and dicts"
#: types whose every value is in the domain.
_PLAIN = frozenset({bytes, bool, type(None)})
#: names already found to be good field names (records repeat them), up to a bound on memory.
_good_names: set[str] = set()
_GOOD_NAMES_KEPT = 10_000


def check_key(key: Any, *, what: str = "key", allow_empty: bool = False) -> None:
    """Raise :class:`InvalidValue` unless ``key`` is a key every backend can store."""
    if type(key) is str and key.isascii() and len(key) <= MAX_KEY_BYTES and "\x00" not in key and (key or allow_empty):
        return  # the common case, decided without encoding
    if not isinstance(key, str):
        raise InvalidValue(f"{what} {_show(key)}: keys are strings")
    size = _utf8_size(key)
    if (not key and not allow_empty) or "\x00" in key or size is None:
        raise InvalidValue(f"{what} {_show(key)}: keys are non-empty strings of Unicode text without NUL")
    if size > MAX_KEY_BYTES:
        raise InvalidValue(f"{what} {_show(key)}: {size} bytes of UTF-8; keys are at most {MAX_KEY_BYTES}")


def check_fields(names: Iterable[Any]) -> None:
    """Raise :class:`InvalidValue` for a field name that some backend could not store."""
    for name in names:
        if (type(name) is not str or name not in _good_names) and not _is_name(name, nested=False):
            raise InvalidValue(f"field {_show(name)}: {_FIELD_RULE}")


def check_record(values: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidValue` naming the field, the path inside it and the rule broken."""
    check_fields(values)
    try:
        _check_members(values.items(), 0)
    except _Refused as refused:
        raise InvalidValue(f"field {refused.path()}: {refused.rule}") from None


def _is_name(name: Any, *, nested: bool) -> bool:
    """Whether ``name`` may be a field name (``nested``: a key of a nested dict, which may be ``_id``)."""
    if type(name) is not str or not _FIELD.fullmatch(name) or _utf8_size(name) is None:
        return False
    if name == "_id":
        return nested
    if len(_good_names) < _GOOD_NAMES_KEPT:
        _good_names.add(name)
    return True


class _Refused(Exception):
    """Raised deep inside a value; each container on the way out adds its step to the path."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.steps: list[Any] = []  # innermost first: dict keys and list indexes, then the field name

    def path(self) -> str:
        """The field's name, then its subscripts: ``'f' at [3]['name']``."""
        field, *inner = [f"[{step!r}]" for step in reversed(self.steps)]
        if len(inner) > 8:  # nested past the limit: the first steps and the count say enough
            return f"{field[1:-1]} at {''.join(inner[:4])}...{''.join(inner[-2:])} ({len(inner)} levels down)"
        return f"{field[1:-1]} at {''.join(inner)}" if inner else field[1:-1]


def _check_members(members: Iterable[tuple[Any, Any]], depth: int) -> None:
    """Check the values of a dict's ``items()`` or a list's ``enumerate()``, ``depth`` containers down."""
    for step, value in members:
        kind = type(value)
        if kind in _PLAIN or (kind is str and value.isascii()) or (kind is int and INT_MIN <= value <= INT_MAX):
            continue  # the common cases, without a call
        try:
            _check_value(value, kind, depth)
        except _Refused as refused:
            refused.steps.append(step)
            raise


def _check_value(value: Any, kind: type, depth: int) -> None:
    if kind is str:
        if _utf8_size(value) is None:
            raise _Refused(f"str {_show(value)} holds a lone surrogate, which is not Unicode text")
    elif kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise _Refused(f"int {_show(value)} is outside the 64-bit signed range -2**63 .. 2**63-1")
    elif kind is float:
        if not math.isfinite(value):
            raise _Refused(f"float {value!r}: floats must be finite")
    elif kind is dict:
        if depth == MAX_DEPTH:
            raise _Refused(_TOO_DEEP)
        for key in value:
            if key not in _good_names and not _is_name(key, nested=True):
                raise _Refused(f"dict key {_show(key)}: {_NESTED_RULE}")
        _check_members(value.items(), depth + 1)
    elif kind is list or kind is tuple:
        if depth == MAX_DEPTH:
            raise _Refused(_TOO_DEEP)
        _check_members(enumerate(value), depth + 1)
    else:
        raise _Refused(f"type {kind.__name__} is not storable by every backend; use {_TYPES}")


def _show(value: Any) -> str:
    """``repr(value)``, shortened so a 10 KB key does not fill the terminal."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...{text[-12:]} ({len(text)} chars)"


def _utf8_size(text: str) -> int | None:
    """Bytes of ``text`` in UTF-8, or None if it holds a lone surrogate (no backend can store it)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None
