"""Redis partitioning as keys, scores, members and commands: pure functions of the spec, no I/O.

- A partition is one sorted set, its **bucket**: ``<prefix><target>:<label>`` for time, numeric
  and list partitions (``live:updates:2026-11-25``), ``<prefix><target>:{<tag>}`` for hash
  partitions, where the hash tag is ``<colocate>:h<r>`` (or ``<target>:h<r>`` without colocate),
  so Redis Cluster keeps each bucket on one slot, and bucket ``r`` of every family sharing a
  ``colocate`` field on the same slot.
- A member is one row as MessagePack (keys sorted, datetimes as UTC timestamps): a bucket is a
  set, so an identical row written twice is stored once. The score is the partition key as a
  number (epoch microseconds for datetimes, exact in a double), else 0, so a key range is read
  with ``ZRANGEBYSCORE``.
- The registry ``<prefix><target>:partitions`` (a sorted set of labels) records which
  partitions exist, since an empty sorted set cannot: ``create`` adds a label, ``retire``
  removes it and deletes the bucket. Without a registry, ``inspect`` falls back to ``SCAN``.
- Retention: each time bucket expires (``PEXPIREAT``) at the moment its whole range leaves the
  window (:func:`dbplex.partition.expiry.expires_at`), set by every write and refreshed by
  ``maintain``; ``retire`` deletes a bucket that is already past, in case a TTL was lost.
- Hash routing: ``crc32(hash_input(value)) % modulus`` of the ``colocate`` field (else the key),
  where :func:`hash_input` is the value normalised so that values a query takes as equal (``1``,
  ``1.0``, ``True``) give the same bytes: stable across hosts, processes and Python versions.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from dbplex.partition.expiry import expires_at
from dbplex.partition.interval import utc
from dbplex.partition.model import Partition
from dbplex.partition.spec import PartitionSpec

#: the registry key's last part; no label can take it.
REGISTRY = "partitions"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_MILLISECOND = timedelta(milliseconds=1)
_ENCODER = msgspec.msgpack.Encoder(order="sorted")
_GLOB_SPECIAL = str.maketrans({c: f"\\{c}" for c in "*?[]\\"})


def problems(spec: PartitionSpec) -> list[str]:
    """What Redis cannot do with ``spec``; empty when it can."""
    found: list[str] = []
    if spec.options:
        found.append(f"Redis partitions take no options, got {sorted(spec.options)}")
    if spec.retention_mode != "drop":
        found.append(f'Redis deletes expired buckets: retention_mode must be "drop", not {spec.retention_mode!r}')
    if REGISTRY in spec.lists:
        found.append(f"lists: {REGISTRY!r} is reserved for the registry key {spec.target}:{REGISTRY}")
    return found


def bucket(spec: PartitionSpec, partition: Partition, prefix: str = "") -> str:
    """The sorted set holding ``partition``'s rows."""
    if partition.kind == "hash":
        return f"{prefix}{spec.target}:{{{spec.colocate or spec.target}:h{partition.remainder}}}"
    return f"{prefix}{spec.target}:{partition.label}"


def registry(spec: PartitionSpec, prefix: str = "") -> str:
    return f"{prefix}{spec.target}:{REGISTRY}"


def family_pattern(spec: PartitionSpec, prefix: str = "") -> str:
    """``SCAN MATCH`` pattern of every key of the family (prefix and target taken literally)."""
    return f"{prefix.translate(_GLOB_SPECIAL)}{spec.target}:*"


def label_of(spec: PartitionSpec, key: str, prefix: str = "") -> str | None:
    """The partition label a bucket key names (the hash tag gives ``h<r>``), or None."""
    head = f"{prefix}{spec.target}:"
    if not key.startswith(head):
        return None
    rest = key[len(head) :]
    if rest.startswith("{") and rest.endswith("}"):
        tag = rest[1:-1]
        group = f"{spec.colocate or spec.target}:"
        return tag[len(group) :] if tag.startswith(group) else None
    return rest


def remainder(spec: PartitionSpec, value: Any) -> int:
    """The hash bucket of a value (of the key, or of ``colocate``): ``crc32(hash_input(value)) % modulus``.
    A dict is a value here too (a map-valued key); rows go through :func:`row_remainder`."""
    assert spec.modulus is not None
    return zlib.crc32(hash_input(value)) % spec.modulus


def row_remainder(spec: PartitionSpec, row: dict[str, Any]) -> int:
    """The hash bucket of a row: of its ``colocate`` field when the spec has one, else of its key."""
    return remainder(spec, row.get(spec.colocate or spec.key))


def hash_input(value: Any) -> bytes:
    """The bytes a hash bucket is computed from: equal values (as queries compare them, with
    Python's ``==``) give equal bytes, on every host and Python version.

    - a string: its UTF-8 text (``"abc"`` -> ``abc``);
    - an integer, a bool (``True`` is ``1``) and a float with an integral value (``1.0``, ``-0.0``):
      the integer in decimal (``1``), so ``1``, ``1.0`` and ``True`` share a bucket;
    - another float: its shortest round-trip text (``repr``: ``0.5``, ``1e+100``, ``inf``);
    - a datetime: ISO 8601 in UTC, a naive one taken as UTC (``2026-11-25T13:30:00+00:00``), as
      stored rows hold them (nested in a list or dict, a naive one stays naive ISO text, as stored);
    - None: ``None``;
    - a list, tuple or dict: canonical JSON of the normalised items (keys sorted, no spaces);
    - anything else: ``str(value)``.

    Strings and integers hash as their text did before normalisation, so their buckets are unchanged.
    """
    normal = _normal(value)
    if isinstance(normal, str):
        text = normal
    elif isinstance(normal, (list, dict)):
        text = json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    else:
        text = str(normal)
    return text.encode()


def _normal(value: Any, nested: bool = False) -> Any:
    """``value`` as rows store it, with every number equal to an integer made that integer:
    datetimes as ISO text in UTC (a naive one is UTC at the top level, where rows store it aware;
    nested, rows store it as naive ISO text, which is what it becomes here too)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat() if nested and value.tzinfo is None else utc(value).isoformat()
    if isinstance(value, (list, tuple)):
        return [_normal(v, True) for v in value]
    if isinstance(value, dict):
        return {_key(k): _normal(v, True) for k, v in value.items()}
    return value


def _key(key: Any) -> str:
    normal = _normal(key, True)
    return normal if isinstance(normal, str) else str(normal)


def registry_score(partition: Partition) -> float:
    """Registry entries sort like partitions: by lower bound, else remainder, else 0."""
    if isinstance(partition.lower, datetime):
        return score(partition.lower)
    if isinstance(partition.lower, int):
        return float(partition.lower)
    return float(partition.remainder or 0)


def score(value: Any) -> float:
    """A key value as a sorted-set score: epoch microseconds for datetimes, numbers as they are, else 0."""
    if isinstance(value, datetime):
        return float((utc(value) - _EPOCH) // _MICROSECOND)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0


def encode(row: dict[str, Any]) -> bytes:
    """A row as a member: MessagePack with sorted keys; datetimes (top level) made UTC-aware."""
    return _ENCODER.encode({k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()})


def decode(member: bytes) -> dict[str, Any]:
    row: dict[str, Any] = msgspec.msgpack.decode(member)
    return row


def expiry_ms(spec: PartitionSpec, partition: Partition) -> int | None:
    """``PEXPIREAT`` of a bucket: when its whole range leaves the retention window."""
    moment = expires_at(spec, partition)
    return None if moment is None else epoch_ms(moment)


def epoch_ms(moment: datetime) -> int:
    """An aware moment as Unix epoch milliseconds (what ``PEXPIREAT`` and ``PEXPIRETIME`` speak)."""
    return (moment - _EPOCH) // _MILLISECOND


def create_commands(spec: PartitionSpec, partition: Partition, prefix: str = "") -> list[tuple[Any, ...]]:
    """Register the partition, and (re)set its bucket's expiry (a no-op while the bucket is empty)."""
    commands: list[tuple[Any, ...]] = [
        ("ZADD", registry(spec, prefix), "NX", registry_score(partition), partition.label)
    ]
    expiry = expiry_ms(spec, partition)
    if expiry is not None:
        commands.append(("PEXPIREAT", bucket(spec, partition, prefix), expiry))
    return commands


def retire_commands(spec: PartitionSpec, partition: Partition, prefix: str = "") -> list[tuple[Any, ...]]:
    """Delete the bucket first, then its registry entry (a run stopped in between leaves it listed: retired again)."""
    return [("DEL", bucket(spec, partition, prefix)), ("ZREM", registry(spec, prefix), partition.label)]


def score_range(spec: PartitionSpec, where: list[Any]) -> tuple[str, str]:
    """``ZRANGEBYSCORE`` bounds from the conditions on the key (numbers and datetimes only)."""
    low, high = "-inf", "+inf"
    low_value: float | None = None
    high_value: float | None = None
    for condition in where:
        if condition.field != spec.key or not _numeric(condition.value):
            continue
        value = score(condition.value)
        if condition.op in (">", ">=", "==") and (low_value is None or value > low_value):
            low_value, low = value, _bound(value, condition.op == ">")
        if condition.op in ("<", "<=", "==") and (high_value is None or value < high_value):
            high_value, high = value, _bound(value, condition.op == "<")
    return low, high


def _numeric(value: Any) -> bool:
    return isinstance(value, (datetime, int, float)) and not isinstance(value, bool)


def _bound(value: float, exclusive: bool) -> str:
    text = repr(int(value)) if value.is_integer() else repr(value)
    return f"({text}" if exclusive else text


def text(command: tuple[Any, ...]) -> str:
    """A command as ``redis-cli`` would take it."""
    return " ".join(f"{part:.0f}" if isinstance(part, float) and part.is_integer() else str(part) for part in command)
