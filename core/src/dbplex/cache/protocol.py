"""The read-through cache's decisions, without I/O, shared by the sync and the asyncio cache.

Entries live in the store only (no copy in the process), so a write's ``DEL`` reaches every
process at once; see docs/architecture.md for why that beats client-side caching here. The one
race left is a reader that read the source before a write and stores that old value after the
write's ``DEL``; leases close it. A miss takes a lease (a random token stored under the entry's
key, atomically with the lookup), reads the source and stores its entry only if its token is
still there (compare and set, in Lua). A write deletes the key after writing the source, and
with it any lease, so a reader that read before the write cannot store what it read.

Each operation is a generator of steps (:class:`SourceCall`, :class:`FillHook`) that returns
the operation's answer: :class:`dbplex.cache.ReadThroughCache` performs the steps with blocking
calls, :class:`dbplex.cache.AsyncReadThroughCache` with awaits, and neither decides anything.
The store is spoken to through its backend's public ``redis.command`` op on the hub, so its
calls are pooled, timed out, counted in metrics and fail as :class:`~dbplex.errors.DbplexError`
like any other operation.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

import msgspec

from dbplex import codec
from dbplex.cache.stats import SHARED_PREFIX, CacheStats, Counters
from dbplex.config import CacheConfig
from dbplex.errors import ConfigError, DbplexError
from dbplex.ops import RECORD_WRITES, Get, Op, PutMany
from dbplex.result import Result
from dbplex.secrets import logger

if TYPE_CHECKING:
    from dbplex.backends import Backend

#: its messages scrubbed of secrets: a store failure's message may quote a URL.
log = logger(__name__)

#: the first byte of a stored value: an entry, or a miss's lease.
ENTRY, LEASE = b"V", b"L"

# KEYS: entry, stats hash. ARGV: lease token, lease ms, ttl ms.
# Returns {entry, age ms} on a hit; {"", -1} when this miss took the lease; {lease, -1} when
# another miss holds it. The age is the entry's ttl less what is left of it.
_LOOKUP = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) == 'V' then
  local age = tonumber(ARGV[3]) - redis.call('PTTL', KEYS[1])
  if age < 0 then age = 0 end
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
  redis.call('HINCRBY', KEYS[2], 'age_ms', age)
  return {v, age}
end
redis.call('HINCRBY', KEYS[2], 'misses', 1)
if v then return {v, -1} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'', -1}
"""

# KEYS: entry, stats hash. ARGV: lease token, entry, ttl ms. Stores the entry only while the
# lease is still there: a write in between deleted it.
_FILL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'fills', 1)
  return 1
end
redis.call('HINCRBY', KEYS[2], 'lost', 1)
return 0
"""

# KEYS: entry. ARGV: lease token. Gives a lease back (a miss whose source read failed).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: stats hash, then the entries to delete.
_INVALIDATE = """
local n = #KEYS - 1
redis.call('DEL', unpack(KEYS, 2))
redis.call('HINCRBY', KEYS[1], 'invalidations', n)
return n
"""

#: keys deleted per script call: Lua's ``unpack`` has a limit of a few thousand.
_CHUNK = 1000


class CacheInvalidationError(DbplexError):
    """A write reached its source but its cache entries could not be deleted.

    The write is not acknowledged: until the entries expire (their ``ttl``) a cached read may
    still return the old value.
    """


T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)


class Port(Protocol[R_co]):
    """What a cache performs steps with: its blocking calls (``R_co`` the reply) or its
    coroutines (``R_co`` an awaitable of it)."""

    def read_source(self, source: str, op: Op, read: bool | None) -> R_co:
        """``op`` on ``source``, uncached (the store's scripts are ops of the store source)."""
        ...

    def fill_hook(self, table: str, key: str) -> R_co:
        """The cache's ``before_fill`` seam, if one is set."""
        ...


class SourceCall:
    """Run ``op`` on ``source`` without the cache; the reply is its :class:`Result`."""

    __slots__ = ("op", "read", "source")

    def __init__(self, source: str, op: Op, read: bool | None) -> None:
        self.source, self.op, self.read = source, op, read

    def call(self, port: Port[R_co]) -> R_co:
        return port.read_source(self.source, self.op, self.read)


class FillHook:
    """A miss read the source and is about to store its entry (the ``before_fill`` seam)."""

    __slots__ = ("key", "table")

    def __init__(self, table: str, key: str) -> None:
        self.table, self.key = table, key

    def call(self, port: Port[R_co]) -> R_co:
        return port.fill_hook(self.table, self.key)


Step = SourceCall | FillHook
#: an operation: steps sent their replies (or thrown their errors), returning the answer.
Steps = Generator[Step, Any, T]


class Job(Generic[T]):
    """One operation being run: iterate for the steps to perform, :meth:`reply` or :meth:`fail`
    each, then :meth:`outcome`. The driver's loop is all a cache writes per I/O mode."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self._result: T | None = None
        self._error: BaseException | None = None
        self._step: Step | None = None
        self._advance(steps.send, None)

    def __iter__(self) -> Iterator[Step]:
        while self._step is not None:
            yield self._step

    def reply(self, value: Any) -> None:
        self._advance(self._steps.send, value)

    def fail(self, error: BaseException) -> None:
        self._advance(self._steps.throw, error)

    def settle(self, perform: Callable[[], Any]) -> None:
        """Perform a step with a blocking call, and reply with its answer or error."""
        try:
            value = perform()
        except BaseException as exc:
            self.fail(exc)
        else:
            self.reply(value)

    def _advance(self, resume: Callable[[Any], Step], value: Any) -> None:
        try:
            self._step = resume(value)
        except StopIteration as done:
            self._step, self._result = None, done.value
        except BaseException as exc:  # the operation's own error, raised by outcome()
            self._step, self._error = None, exc

    def outcome(self) -> T:
        error, self._error = self._error, None
        if error is not None:
            raise error
        return cast(T, self._result)


def records_written(op: Op) -> list[tuple[str, str]]:
    """The (table, key) pairs whose cache entries ``op``, run inside a transaction, makes stale."""
    if isinstance(op, RECORD_WRITES):
        return [(op.table, op.key)]
    if isinstance(op, PutMany):
        return [(op.table, key) for key in op.records]
    return []


class _Table:
    __slots__ = ("name", "prefix", "stats_key", "ttl_ms")

    def __init__(self, name: str, prefix: str, ttl: float) -> None:
        self.name = name
        self.prefix = prefix
        self.ttl_ms = max(1, round(ttl * 1000))
        self.stats_key = SHARED_PREFIX + name


class CachePlan:
    """The cache's tables, counts and decisions; its operations are :data:`Steps`.

    The hub sends every op of a source with cached tables to the cache: a ``Get`` of a cached
    table reads the store first; ``Put``, ``Update``, ``Delete`` and ``PutMany`` of one write the source,
    then delete the entry; everything else (``Scan``, SQL, backend ops) passes through uncached
    and invalidates nothing.
    """

    def __init__(self, config: CacheConfig, backend: Callable[[str], Backend], origin: str | None) -> None:
        store = config.store
        assert store is not None  # the configuration's check requires it with tables
        store_backend = backend(store)
        if store_backend.name != "redis":
            raise ConfigError(
                f"{origin or 'configuration'}: `cache.store` is {store!r}, a {store_backend.name} source: "
                "the cache store must be a Redis source"
            )
        #: the Redis backend's raw command op (``redis.command``), which the store's scripts run as
        self._command = _op_type(store_backend, store, "redis.command")
        self.store = store
        self._lease_ms = max(1, round(config.lease * 1000))
        self._tables: dict[tuple[str, str], _Table] = {}
        for name, table in config.tables.items():
            source, _, table_name = name.partition(".")
            self._tables[(source, table_name)] = _Table(name, table.key_prefix(name), table.ttl)
        #: the sources with cached tables: the hub sends only their ops here.
        self.sources = frozenset(source for source, _ in self._tables)
        self._counters = Counters({name: table.ttl for name, table in config.tables.items()})

    # -- what goes through the cache ------------------------------------------------------------

    def routed(self, source: str, op: Op, read: bool | None) -> Steps[Result] | None:
        """The steps of ``op`` on ``source`` when it reads or writes a cached record; None
        when it passes through uncached."""
        if type(op) is Get:  # not a backend's subclass, whose meaning the cache cannot know
            table = self._tables.get((source, op.table))
            if table is not None:
                return self._get(source, table, op)
        elif isinstance(op, RECORD_WRITES):
            table = self._tables.get((source, op.table))
            if table is not None:
                return self._write(source, table, op, [op.key], read)
        elif isinstance(op, PutMany):
            table = self._tables.get((source, op.table))
            if table is not None:
                return self._write(source, table, op, list(op.records), read)
        return None

    def cached(self, source: str, table: str) -> bool:
        """Whether ``Get`` of ``table`` on ``source`` goes through the cache."""
        return (source, table) in self._tables

    # -- reads ----------------------------------------------------------------------------------

    def _get(self, source: str, table: _Table, op: Get) -> Steps[Result]:
        key = table.prefix + op.key
        token = LEASE + os.urandom(15)
        try:
            value, age_ms = yield from self._script(
                _LOOKUP, [key, table.stats_key], [token, self._lease_ms, table.ttl_ms]
            )
        except DbplexError as exc:  # the store failed: the source still answers, uncached
            log.warning("cache %s: store %r failed, reading the source: %s", table.name, self.store, exc)
            self._counters.add(table.name, "errors")
            uncached: Result = yield SourceCall(source, op, False)
            return uncached
        if value[:1] == ENTRY:
            self._counters.hit(table.name, age_ms / 1000)
            rows, affected = codec.unpack(value[1:])
            return _selected(Result(rows, affected), op.fields)
        self._counters.add(table.name, "misses")
        # the whole record, read on the primary: a lagging replica could give a value older
        # than a write already acknowledged, which the entry would then keep
        whole = op if op.fields is None else Get(table=op.table, key=op.key)
        leased = value == b""
        try:
            result: Result = yield SourceCall(source, whole, False)
            if leased:
                yield FillHook(table.name, op.key)
        except BaseException as exc:
            # give the lease back (the read failed or was cancelled), so the next miss fills
            # without waiting it out
            if leased and not isinstance(exc, GeneratorExit):
                with contextlib.suppress(DbplexError):
                    yield from self._script(_RELEASE, [key], [token])
            raise
        if leased:
            yield from self._fill(table, key, token, result)
        return _selected(result, op.fields)

    def _fill(self, table: _Table, key: str, token: bytes, result: Result) -> Steps[None]:
        try:
            entry = ENTRY + codec.pack([result.rows, result.affected])
            stored = yield from self._script(_FILL, [key, table.stats_key], [token, entry, table.ttl_ms])
        except (DbplexError, TypeError) as exc:  # a fill is an optimisation: the read has its answer
            log.warning("cache %s: entry not stored in %r: %s", table.name, self.store, exc)
            self._counters.add(table.name, "errors")
            return
        self._counters.add(table.name, "fills" if stored else "lost")

    # -- writes ---------------------------------------------------------------------------------

    def _write(self, source: str, table: _Table, op: Op, keys: list[str], read: bool | None) -> Steps[Result]:
        try:
            result: Result = yield SourceCall(source, op, read)
        except BaseException as exc:
            # the write may have happened (a reply lost after the commit): drop the entry anyway,
            # without hiding the write's own error
            if not isinstance(exc, GeneratorExit):
                with contextlib.suppress(CacheInvalidationError):
                    yield from self._invalidate(table, keys)
            raise
        yield from self._invalidate(table, keys)
        return result

    def invalidation(self, source: str, table: str, keys: Iterable[str]) -> Steps[None]:
        """Delete the entries of ``keys`` of a cached table (ignored when it is not cached)."""
        found = self._tables.get((source, table))
        if found is not None:
            yield from self._invalidate(found, list(keys))

    def committed(self, source: str, written: list[tuple[str, str]]) -> Steps[None]:
        """Delete the entries of what a committed transaction wrote (:func:`records_written`)."""
        for table in sorted({table for table, _ in written}):
            yield from self.invalidation(source, table, [key for t, key in written if t == table])

    def _invalidate(self, table: _Table, keys: list[str]) -> Steps[None]:
        if not keys:
            return
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = [table.prefix + key for key in keys[start : start + _CHUNK]]
                yield from self._script(_INVALIDATE, [table.stats_key, *chunk], [])
        except DbplexError as exc:
            self._counters.add(table.name, "errors")
            raise CacheInvalidationError(
                f"cache {table.name}: the write reached the source but its cache entry could not be deleted "
                f"from {self.store!r} ({exc}); cached reads may return the old value for up to "
                f"{table.ttl_ms / 1000:g}s"
            ) from exc
        self._counters.add(table.name, "invalidations", len(keys))

    def _script(self, text: str, keys: list[Any], args: list[Any]) -> Steps[Any]:
        """Run a script on the store's primary, its reply as the server sent it.

        ``EVAL`` with the whole text: the server keeps the compiled script by its digest, and the
        text costs less than a second round trip after a ``NOSCRIPT`` (which reaches us only as
        an error message) would.
        """
        return (yield from self._call("EVAL", text, len(keys), *keys, *args))

    def _call(self, *args: Any) -> Steps[Any]:
        result: Result = yield SourceCall(self.store, self._command(args=list(args), decode=False), False)
        return result.rows[0]["value"]

    # -- what it counted ------------------------------------------------------------------------

    def stats(self) -> dict[str, CacheStats]:
        """This process's counts per cached table (``SOURCE.TABLE``), exact."""
        return self._counters.snapshot()

    def shared_counts(self) -> Steps[dict[str, CacheStats]]:
        """Every process's counts per cached table, as added up in the store (``age_max`` is
        not kept there: 0)."""
        shared = {}
        for table in self._tables.values():
            reply = yield from self._call("HGETALL", table.stats_key)
            pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
            raw = {_text(k): int(v) for k, v in pairs}
            shared[table.name] = CacheStats(
                table=table.name,
                ttl=table.ttl_ms / 1000,
                hits=raw.get("hits", 0),
                misses=raw.get("misses", 0),
                fills=raw.get("fills", 0),
                lost=raw.get("lost", 0),
                invalidations=raw.get("invalidations", 0),
                age_sum=raw.get("age_ms", 0) / 1000,
            )
        return shared

    def shared_reset(self) -> Steps[None]:
        """Start the store's counts again from zero."""
        yield from self._call("DEL", *(table.stats_key for table in self._tables.values()))


def _op_type(backend: Backend, source: str, tag: str) -> type[Op]:
    """The op type tagged ``tag`` among the ops of ``source``'s backend."""
    for op_type in backend.ops:
        if msgspec.inspect.type_info(op_type).tag == tag:  # type: ignore[attr-defined]
            return op_type
    raise ConfigError(f"`cache.store` is {source!r}, whose backend has no {tag!r} op")


def _selected(result: Result, fields: list[str] | None) -> Result:
    """``result`` of a whole-record ``Get`` cut down to ``fields``, as the source would answer."""
    if fields is None:
        return result
    rows = [{**row, "values": codec.select(row["values"], fields)} for row in result.rows]
    return Result(rows, result.affected)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
