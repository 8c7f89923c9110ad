"""Value encodings for backends whose storage cannot keep every uniform type as it is.

* :func:`pack` / :func:`unpack` — MessagePack, for opaque storage such as Redis hash fields.
  Every uniform type round-trips exactly.
* :func:`to_json` / :func:`from_json` — JSON-ready values for document columns such as
  PostgreSQL JSONB. JSON has no bytes, and JSONB rewrites ``1e16`` as ``10000000000000000``
  (which reads back as an int), so bytes become ``{"$bytes": base64}`` and floats written in
  exponent form, not finite, or negative zero become ``{"$float": repr}``; strings holding NUL
  (which JSONB refuses) become ``{"$text": base64}``. Everything else stays plain JSON, so SQL
  can still query it. A user's dict whose only key starts with ``$`` is wrapped as
  ``{"$dict": ...}``, so no user data can be mistaken for a marker.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()

BYTES_TAG = "$bytes"
FLOAT_TAG = "$float"
TEXT_TAG = "$text"
DICT_TAG = "$dict"


def pack(value: Any) -> bytes:
    """One value as MessagePack."""
    return _encoder.encode(value)


def unpack(data: bytes) -> Any:
    """A value written by :func:`pack`."""
    return _decoder.decode(data)


def _float_is_plain(value: float) -> bool:
    text = repr(value)
    return "e" not in text and "n" not in text and text != "-0.0"  # excludes 1e+16, 1e-05, inf, nan, -0.0


def to_json(value: Any) -> Any:
    """``value`` with bytes and exponent-form floats replaced by tagged objects."""
    if isinstance(value, dict):
        encoded = {k: to_json(v) for k, v in value.items()}
        if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
            return {DICT_TAG: encoded}
        return encoded
    if isinstance(value, str):
        return {TEXT_TAG: base64.b64encode(value.encode()).decode("ascii")} if "\x00" in value else value
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if type(value) is float and not _float_is_plain(value):
        return {FLOAT_TAG: repr(value)}
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`."""
    if isinstance(value, dict):
        if len(value) == 1:
            if BYTES_TAG in value:
                return base64.b64decode(value[BYTES_TAG])
            if FLOAT_TAG in value:
                return float(value[FLOAT_TAG])
            if TEXT_TAG in value:
                return base64.b64decode(value[TEXT_TAG]).decode()
            if DICT_TAG in value:
                return {k: from_json(v) for k, v in value[DICT_TAG].items()}
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def select(values: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """The requested ``fields`` of a record that it has (all of them when ``fields`` is None)."""
    if fields is None:
        return values
    return {f: values[f] for f in fields if f in values}
