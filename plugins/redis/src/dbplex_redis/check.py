"""Redis's :class:`~dbplex.check.backend.Checker`, over key families such as ``cache:teams:*``.

A family is a pattern ending in ``*`` (and holding no other glob character); the part of each key
the ``*`` matches is the record's key. A hash's fields are the record's values, and so are a
string's when it holds a JSON object (any other string is one field, ``value``); other types have
no fields. Keys are read by a Lua script (``EVAL``), a batch per call, typed on the server. The patterns are raw keys: a source's ``prefix`` (for uniform record tables) does not
apply. A table name without ``*`` is a table of uniform records (what ``Put`` writes, and
``dbplex sync`` copies into): the hashes under the source's prefix at ``<prefix>table:r:*``, whose
values are MessagePack, unpacked here. Keys come from ``SCAN``, which has no order, so a family takes part in mirrors by lookup,
not bisection, and every rule is evaluated by core over the streamed values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from dbplex.backends import Source
from dbplex.check.backend import Outcome, Row, Segment
from dbplex.check.rules import Rule
from dbplex.errors import ConfigError, UnsupportedError
from dbplex.pool import Pool
from dbplex_redis import translate
from dbplex_redis.translate import KEYS

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB = re.compile(r"[*?\[\]\\]")


class Family(NamedTuple):
    """Where a table's keys live: what they start with, the ``SCAN`` pattern matching them, and
    whether their hashes hold uniform records (MessagePack values) rather than plain strings."""

    prefix: str
    match: str
    packed: bool


def family_of(source: Source, table: str) -> Family:
    """Where the keys of ``table`` live: a table of uniform records (an identifier) or a raw key
    family (a literal prefix and one ``*``)."""
    if _TABLE.fullmatch(table):
        prefix = KEYS[source.options.prefix].records(table)
        return Family(prefix, _GLOB.sub(r"\\\g<0>", prefix) + "*", packed=True)
    prefix = table[:-1]
    if not table.endswith("*") or any(c in prefix for c in "*?[]\\"):
        raise ConfigError(f"source {source.name!r}: key family {table!r} must be a literal prefix followed by one '*'")
    return Family(prefix, table, packed=False)


#: each key's type and, when ARGV[1] is "1", its hash fields or string value (nil otherwise).
READ_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  local value = false
  if ARGV[1] == '1' and kind == 'hash' then
    value = redis.call('HGETALL', key)
  elseif ARGV[1] == '1' and kind == 'string' then
    value = redis.call('GET', key)
  end
  out[i] = {kind, value}
end
return out
"""


def _values(kind: bytes, raw: Any, packed: bool, name: bytes) -> dict[str, Any]:
    """A key's fields from its type and its ``HGETALL`` (a flat list) or ``GET`` reply."""
    if packed:
        return (translate.values(raw, None, name.decode()) or {}) if kind == b"hash" and raw else {}
    if kind == b"hash" and raw:
        return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
    if kind == b"string" and raw is not None:
        text = raw.decode()
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"value": text}
        return parsed if isinstance(parsed, dict) else {"value": text}
    return {}


class RedisChecker:
    """Reads through the source's pool; ``reads`` counts the keys read for it."""

    ordered = False

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.reads = 0

    def _no_field_key(self, key: str | None) -> None:
        if key is not None:
            raise ConfigError(
                f"source {self.source.name!r}: a key family's records are keyed by the key itself; leave `key` unset"
            )

    def _read(
        self, names: list[bytes], fields: Sequence[str], packed: bool
    ) -> list[tuple[bytes, dict[str, Any] | None]]:
        """Each key's fields (None for a key that does not exist), in one round trip: a script
        reads each key by its type on the server, where a pipeline would send two commands a key."""
        with self.pool.connection() as client:
            replies = client.eval(READ_SCRIPT, len(names), *names, "1" if fields else "0") if names else []
        return [
            (n, None if k == b"none" else _values(k, v, packed, n)) for n, (k, v) in zip(names, replies, strict=True)
        ]

    def batches(
        self, table: str, key: str | None, fields: Sequence[str], batch: int, lo: Any = None, hi: Any = None
    ) -> Iterator[list[Row]]:
        self._no_field_key(key)
        if lo is not None or hi is not None:
            raise UnsupportedError(f"source {self.source.name!r}: key families have no key order to read a range of")
        family = family_of(self.source, table)
        names: list[bytes] = []
        cursor = 0
        while True:
            with self.pool.connection() as client:
                cursor, found = client.scan(cursor, match=family.match.encode(), count=batch)
            names.extend(found)
            # SCAN's COUNT is a hint: one reply can hold more keys than a batch
            while len(names) >= batch or (cursor == 0 and names):
                taken, names = names[:batch], names[batch:]
                chunk = self._rows(family, taken, fields)
                self.reads += len(taken)
                if chunk:
                    yield chunk
            if cursor == 0:
                return

    def _rows(self, family: Family, names: list[bytes], fields: Sequence[str]) -> list[Row]:
        rows = []
        start = len(family.prefix)
        for name, values in self._read(names, fields, family.packed):
            if values is not None:
                rows.append((name.decode()[start:], tuple(values.get(f) for f in fields)))
        return rows

    def rows(self, table: str, key: str | None, fields: Sequence[str], keys: Sequence[str]) -> list[Row]:
        self._no_field_key(key)
        family = family_of(self.source, table)
        rows = self._rows(family, [f"{family.prefix}{k}".encode() for k in keys], fields)
        self.reads += len(keys)
        return rows

    def existing(self, table: str, field: str | None, values: Sequence[str]) -> set[str]:
        if field is not None:
            raise ConfigError(
                f"source {self.source.name!r}: Redis cannot look records up by field {field!r}; "
                "a reference may point at a key family's keys only"
            )
        prefix = family_of(self.source, table).prefix
        with self.pool.connection() as client:
            pipe = client.pipeline(transaction=False)
            for value in values:
                pipe.exists(f"{prefix}{value}")
            found = pipe.execute()
        self.reads += len(values)
        return {value for value, hit in zip(values, found, strict=True) if hit}

    def count(self, table: str) -> int:
        return sum(len(batch) for batch in self.batches(table, None, [], 1000))

    def bounds(self, table: str, key: str | None) -> tuple[Any, Any] | None:
        raise UnsupportedError(f"source {self.source.name!r}: key families have no key order")

    def segments(self, table: str, key: str | None, fields: Sequence[str], edges: Sequence[Any]) -> list[Segment]:
        raise UnsupportedError(f"source {self.source.name!r}: key families have no key order")

    def evaluate(self, table: str, key: str | None, rule: Rule, sample: int) -> Outcome | None:
        return None
