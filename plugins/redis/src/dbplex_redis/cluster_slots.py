"""Pure hash-slot arithmetic for Redis Cluster: which slot a key lives in, and refusing what spans slots.

A multi-key command, a transaction or a script runs on one node and only on keys of one slot;
the server would answer ``CROSSSLOT``. Checking first gives a message that names the keys and
their slots and says what to do, and never half-runs a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.crc import key_slot

from dbplex.errors import OpError
from dbplex_redis.translate import command_name

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
    return int(key_slot(encode(key)))


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
