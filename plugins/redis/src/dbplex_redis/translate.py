"""Pure translation between dbplex ops and Redis commands: key names, scripts, replies.

No I/O happens here, so an asyncio twin can reuse all of it.

Layout of a table ``t`` under the source's ``prefix`` (see :class:`Keys`):

* ``<prefix>t:r:<key>`` — one hash per record: each field's value is packed with
  :func:`dbplex.codec.pack`, plus the reserved field :data:`MARKER` so that a record without
  fields still exists;
* ``<prefix>t:keys`` — a sorted set of every key with score 0, so that ``ZRANGEBYLEX``
  returns keys in byte order (= code-point order of UTF-8) for :class:`~dbplex.ops.Scan`;
* ``<prefix>t:ttl`` — for sources with a ``ttl``: keys scored by when they expire, so that
  each write can drop a few expired keys from the index and it does not grow without bound.

On Redis Cluster ``t`` is written ``{t}`` (a hash tag): one table, one slot.

Writes run as Lua scripts: one command, one round trip, atomic on the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dbplex.codec import pack, unpack
from dbplex.errors import OpError, UnsupportedError
from dbplex.ops import Delete, Get, Put, PutMany, Scan, Update
from dbplex.steps import Kinded, Steps

#: the reserved hash field every record has; uniform field names are never empty.
MARKER = b""

#: keys dropped from the index per write, at most, once their records have expired.
PRUNE_PER_WRITE = 10


class Keys:
    """Every Redis key name of a source, built in this one place.

    With ``tagged`` (Redis Cluster) the table is a hash tag, ``<prefix>{t}:r:k``, so that a
    table's records, index and expiry set share one slot and the scripts below stay valid
    there. Plain Redis keeps the untagged names, so existing data needs no migration.
    """

    __slots__ = ("prefix", "tagged")

    def __init__(self, prefix: str, tagged: bool = False) -> None:
        self.prefix = prefix
        self.tagged = tagged

    def family(self, table: str) -> str:
        """What every key of ``table`` starts with."""
        return f"{self.prefix}{{{table}}}:" if self.tagged else f"{self.prefix}{table}:"

    def records(self, table: str) -> str:
        """What every record key of ``table`` starts with."""
        return f"{self.family(table)}r:"

    def record(self, table: str, key: str) -> str:
        return f"{self.family(table)}r:{key}"

    def index(self, table: str) -> str:
        return f"{self.family(table)}keys"

    def expiry(self, table: str) -> str:
        return f"{self.family(table)}ttl"

    def changes(self, table: str) -> str:
        """The stream of ``table``'s changes: the writes below append to it once it exists."""
        return f"{self.family(table)}changes"

    def pruned(self, table: str) -> str:
        """The id up to which ``table``'s change stream was pruned, so that resuming before it fails."""
        return f"{self.family(table)}pruned"

    def of_write(self, table: str, key: str) -> list[str]:
        """The keys the write scripts (``PUT``, ``UPDATE``, ``DELETE``) take, in their order."""
        return [self.record(table, key), self.index(table), self.expiry(table), self.changes(table)]


class _KeysByPrefix(dict[str, Keys]):
    def __init__(self, tagged: bool) -> None:
        super().__init__()
        self.tagged = tagged

    def __missing__(self, prefix: str) -> Keys:
        keys = self[prefix] = Keys(prefix, self.tagged)
        return keys


#: the (shared) :class:`Keys` of each prefix: ``KEYS[prefix]``.
KEYS: dict[str, Keys] = _KeysByPrefix(tagged=False)
#: the same with the table as a hash tag, for Redis Cluster: ``TAGGED_KEYS[prefix]``.
TAGGED_KEYS: dict[str, Keys] = _KeysByPrefix(tagged=True)


def ttl_ms(ttl: float | None) -> int:
    """A source's ``ttl`` in whole milliseconds (0 when records do not expire)."""
    return max(1, round(ttl * 1000)) if ttl else 0


# -- scripts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """A Lua script, run by ``EVALSHA`` and sent in full (``EVAL``) only when the server lacks it."""

    name: str
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


# KEYS: record, index, expiry, changes.  ARGV: key, ttl ms (0: none), record key prefix, field/value pairs.
# A change is appended to the changes stream, in the same script (so never lost nor made up), only
# when the stream exists (``dbplex watch --install``): the field "" holds "OP:KEY", the others
# are the record's fields after the write (its marker left out).
_CHANGED = """
if redis.call('EXISTS', KEYS[4]) == 1 then
  local entry = {'', change .. ':' .. ARGV[1]}
  local flat = redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do
    if flat[i] ~= '' then entry[#entry + 1] = flat[i]; entry[#entry + 1] = flat[i + 1] end
  end
  redis.call('XADD', KEYS[4], '*', unpack(entry))
end
"""
_HSET = """
for i = 4, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
"""
_EXPIRE = f"""
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  local now = redis.call('TIME')
  now = now[1] * 1000 + math.floor(now[2] / 1000)
  redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, {PRUNE_PER_WRITE})) do
    redis.call('ZREM', KEYS[3], key)
    if redis.call('EXISTS', ARGV[3] .. key) == 0 then redis.call('ZREM', KEYS[2], key) end
  end
end
"""
PUT = Script(
    "put",
    "local change = redis.call('EXISTS', KEYS[1]) == 1 and 'update' or 'insert'\nredis.call('DEL', KEYS[1])"
    + _HSET
    + "redis.call('ZADD', KEYS[2], 0, ARGV[1])"
    + _EXPIRE
    + _CHANGED
    + "return 1",
)
UPDATE = Script(
    "update",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\nlocal change = 'update'"
    + _HSET
    + _EXPIRE
    + _CHANGED
    + "return 1",
)
# KEYS: record, index, expiry, changes.  ARGV: key.
DELETE = Script(
    "delete",
    """
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if existed == 1 and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('XADD', KEYS[4], '*', '', 'delete:' .. ARGV[1])
end
return existed
""",
)
# KEYS: index, expiry.  ARGV: record key prefix, keys whose records were found missing.
PRUNE = Script(
    "prune",
    """
local removed = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return removed
""",
)

ScriptCall = tuple[Script, tuple[Any, ...]]


def _pairs(values: dict[str, Any], marker: bool) -> list[Any]:
    """Field names and packed values, flat as HSET takes them (after the marker, if asked)."""
    flat: list[Any] = [MARKER, MARKER] if marker else []
    for name, value in values.items():
        flat.append(name)
        flat.append(pack(value))
    return flat


def _record_keys(keys: Keys, table: str, key: str) -> tuple[Any, ...]:
    """``numkeys`` and KEYS of the write scripts (:meth:`Keys.of_write`)."""
    return (4, *keys.of_write(table, key))


def _put_args(keys: Keys, table: str, key: str, values: dict[str, Any], ttl: int) -> tuple[Any, ...]:
    return (*_record_keys(keys, table, key), key, ttl, keys.records(table), *_pairs(values, marker=True))


def put(keys: Keys, op: Put, ttl: int) -> ScriptCall:
    return PUT, _put_args(keys, op.table, op.key, op.values, ttl)


def put_many(keys: Keys, op: PutMany, ttl: int) -> Steps[Kinded, int]:
    """A PutMany's one round trip: the put script once per record, in one pipeline, so each
    record is written (and its change appended) as a Put writes it. ``SCRIPT LOAD`` goes first,
    so the ``EVALSHA`` s after it find the script on a server that lacked it."""
    table = op.table
    commands: list[tuple[Any, ...]] = [("SCRIPT", "LOAD", PUT.text)]
    commands += [("EVALSHA", PUT.sha, *_put_args(keys, table, key, values, ttl)) for key, values in op.records.items()]
    for reply in (yield PIPELINE, commands):
        if isinstance(reply, Exception):
            raise reply
    return len(op.records)


def update(keys: Keys, op: Update, ttl: int) -> ScriptCall:
    table, key = op.table, op.key
    args = (*_record_keys(keys, table, key), key, ttl, keys.records(table))
    return UPDATE, (*args, *_pairs(op.values, marker=False))


def delete(keys: Keys, op: Delete) -> ScriptCall:
    table, key = op.table, op.key
    return DELETE, (*_record_keys(keys, table, key), key)


def prune(keys: Keys, table: str, missing: Sequence[str]) -> ScriptCall:
    return PRUNE, (2, keys.index(table), keys.expiry(table), keys.records(table), *missing)


# -- reads -------------------------------------------------------------------------------------


class NotARecord(ValueError):
    """A key holds a hash that dbplex did not write."""


def read(record_key: str, fields: list[str] | None) -> tuple[Any, ...]:
    """The command reading one record: all fields, or the marker and the chosen ones."""
    if fields is None:
        return ("HGETALL", record_key)
    return ("HMGET", record_key, MARKER, *fields)


def get(keys: Keys, op: Get) -> tuple[Any, ...]:
    """The command reading the record of a :class:`~dbplex.ops.Get`; its key comes second."""
    return read(keys.record(op.table, op.key), op.fields)


def values(reply: Any, fields: list[str] | None, record_key: str) -> dict[str, Any] | None:
    """A record's values from the reply to :func:`read`, or None when there is no record."""
    try:
        if fields is None:  # HGETALL: a map, empty when the key does not exist
            if not reply:
                return None
            if type(reply) is list:  # RESP2 sends the map as field, value, field, value, ...
                reply = dict(zip(reply[::2], reply[1::2], strict=True))
            return {name.decode(): unpack(data) for name, data in reply.items() if name}
        if reply[0] is None:  # HMGET: the marker comes first
            return None
        return {name: unpack(data) for name, data in zip(fields, reply[1:], strict=True) if data is not None and name}
    except (UnicodeDecodeError, msgspec.DecodeError):
        raise NotARecord(
            f"key {record_key!r} holds a hash that dbplex did not write (fields must be MessagePack)"
        ) from None


def scan_keys(keys: Keys, table: str, lower: str, count: int) -> tuple[Any, ...]:
    """The command listing up to ``count`` keys of ``table`` from ``lower`` (a ZRANGEBYLEX bound)."""
    return ("ZRANGEBYLEX", keys.index(table), lower, "+", "LIMIT", 0, count)


def from_key(start_key: str) -> str:
    """The inclusive lower bound for :class:`Scan`'s ``start_key``."""
    return f"[{start_key}" if start_key else "-"


def after_key(key: str) -> str:
    """The exclusive lower bound following ``key``."""
    return f"({key}"


def scan_reads(keys: Keys, op: Scan, members: Sequence[bytes]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Decoded keys and the commands reading their records, to send in one pipeline."""
    names = [m.decode() for m in members]
    prefix = keys.records(op.table)
    fields = op.fields
    return names, [read(prefix + name, fields) for name in names]


#: what a step of a Scan asks its executor to send (sans-I/O, see :mod:`dbplex.steps`): one
#: command (its reply), commands in one pipeline (their replies, error replies in place) or a
#: script call (its result).
CALL, PIPELINE, SCRIPT = range(3)


def scan(keys: Keys, op: Scan) -> Steps[Kinded, list[dict[str, Any]]]:
    """A Scan's round trips: keys from the index, then their records in one pipeline; index
    entries of expired records are pruned, and the index read again for the rows they left out."""
    rows: list[dict[str, Any]] = []
    lower, wanted = from_key(op.start_key), op.limit
    while True:
        members = yield CALL, scan_keys(keys, op.table, lower, wanted)
        if not members:
            return rows
        names, reads = scan_reads(keys, op, members)
        missing = []
        for name, command, reply in zip(names, reads, (yield PIPELINE, reads), strict=True):
            if isinstance(reply, Exception):
                raise reply
            found = values(reply, op.fields, command[1])
            if found is None:
                missing.append(name)
            else:
                rows.append({"key": name, "values": found})
        if missing:
            yield SCRIPT, prune(keys, op.table, missing)
        if not missing or len(members) < wanted:
            return rows
        lower, wanted = after_key(names[-1]), op.limit - len(rows)


# -- raw commands ----------------------------------------------------------------------------

_SUBSCRIBE = "use dbplex_redis.subscribe()"
_TRANSACTION = "use the redis.pipeline op with transaction=true"
_CONFIGURE = "set it in the source's URL or options instead"

#: commands that change the state of the connection they run on, which a pooled connection
#: must not carry to its next user, with what to do instead.
CONNECTION_STATE: dict[str, str] = {
    **dict.fromkeys(
        ("SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"), _SUBSCRIBE
    ),
    **dict.fromkeys(("MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"), _TRANSACTION),
    **dict.fromkeys(("AUTH", "HELLO", "SELECT", "RESET", "QUIT", "READONLY", "READWRITE"), _CONFIGURE),
    **dict.fromkeys(("MONITOR", "SYNC", "PSYNC"), "it turns the connection into a stream"),
    **dict.fromkeys(("CLIENT REPLY", "CLIENT TRACKING", "CLIENT NO-EVICT", "CLIENT NO-TOUCH"), _CONFIGURE),
}
_ARG_TYPES = (str, bytes, int, float)


def command_name(args: Sequence[Any]) -> str:
    """The upper-case name of a raw command (its first argument)."""
    first = args[0]
    return (first.decode(errors="replace") if isinstance(first, bytes) else str(first)).upper()


def check_command(args: Sequence[Any]) -> None:
    """Refuse a raw command that is empty, has arguments Redis cannot take, or changes connection state."""
    if not args:
        raise OpError("a Redis command needs at least its name")
    for arg in args:
        if not isinstance(arg, _ARG_TYPES) or isinstance(arg, bool):
            raise OpError(f"Redis command argument {arg!r}: must be str, bytes, int or float")
    name = command_name(args)
    if name == "CLIENT" and len(args) > 1:
        name = f"CLIENT {command_name(args[1:])}"
    hint = CONNECTION_STATE.get(name)
    if hint is not None:
        raise UnsupportedError(f"Redis command {name}: changes the state of a pooled connection; {hint}")


def decode_reply(reply: Any) -> Any:
    """A raw reply with every bulk string that is valid UTF-8 turned into str; sets become lists."""
    kind = type(reply)
    if kind is bytes:
        try:
            return reply.decode()
        except UnicodeDecodeError:
            return reply
    if kind is list or kind is tuple or kind is set:
        return [decode_reply(item) for item in reply]
    if kind is dict:
        return {decode_reply(k): decode_reply(v) for k, v in reply.items()}
    return reply


def plain_reply(reply: Any) -> Any:
    """A raw reply kept as bytes, with tuples and sets turned into lists."""
    kind = type(reply)
    if kind is list or kind is tuple or kind is set:
        return [plain_reply(item) for item in reply]
    if kind is dict:
        return {k: plain_reply(v) for k, v in reply.items()}
    return reply


def parse_info(text: bytes | str) -> dict[str, str]:
    """The ``name:value`` lines of an ``INFO`` reply."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    info = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            info[name] = value
    return info
