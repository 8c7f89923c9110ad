"""Pure hash-slot arithmetic for Redis Cluster: which slot a key lives in, and refusing what spans slots.

A multi-key command, a transaction or a script runs on one node and only on keys of one slot;
the server would answer ``CROSSSLOT``. Checking first gives a message that names the keys and
their slots and says what to do, and never half-runs a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dbplex.errors import OpError
from dbplex_redis.translate import command_name

#: hash slots of a Redis Cluster.
SLOTS = 16384


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


#: CRC16-CCITT (XMODEM), the checksum the cluster specification hashes keys with.
_CRC16 = _crc16_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def hash_tag(key: bytes) -> bytes:
    """The part of a key that decides its slot: the text between the first ``{`` and the next
    ``}`` when that is not empty, else the whole key (the cluster specification's hash tags)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


#: commands whose keys follow their ``numkeys`` argument (the third): ``EVAL script 2 k1 k2 ...``.
NUMKEYS_COMMANDS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def encode(key: Any) -> bytes:
    """A key as the server sees it: str as UTF-8, numbers as their text (as redis-py sends them)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, float):
        return repr(key).encode()
    return str(key).encode()


def slot(key: Any) -> int:
    """The hash slot of ``key``, as every node computes it."""
    return crc16(hash_tag(encode(key))) % SLOTS


def numkeys_keys(args: Sequence[Any]) -> list[Any] | None:
    """The keys of an EVAL-like command, or None for other commands."""
    if command_name(args) not in NUMKEYS_COMMANDS:
        return None
    try:
        count = int(args[2])
    except (IndexError, ValueError):
        raise OpError(f"Redis command {command_name(args)}: needs the number of keys as its third argument") from None
    return list(args[3 : 3 + count])


def one_slot(what: str, keys: Iterable[Any]) -> int | None:
    """The one slot of ``keys`` (None without keys); OpError when they span slots."""
    first_key_of: dict[int, Any] = {}
    for key in keys:
        first_key_of.setdefault(slot(key), key)
    if len(first_key_of) > 1:
        shown = ", ".join(f"{key!r} in slot {number}" for number, key in list(first_key_of.items())[:4])
        raise OpError(
            f"{what}: its keys map to {len(first_key_of)} hash slots ({shown}); a Redis Cluster runs it only "
            "on keys of one slot: give them a common hash tag, e.g. '{user42}:cart' and '{user42}:orders'"
        )
    return next(iter(first_key_of), None)
