"""The Redis pool: one redis-py client over a counting ``BlockingConnectionPool``.

``connection()`` hands out the client itself, as redis-py intends: the client is thread-safe
and borrows a pooled connection for each command (or pipeline) only. So the pool's counters
count those borrowings: ``acquired`` is commands and pipelines sent, ``wait`` the time to get
a connection (including opening it), ``use`` how long one was held.

redis-py has no minimum size, idle limit, lifetime, keepalive, wait-queue bound, reconnect
backoff or resize; dbplex adds them here. The pool opens ``min_size`` connections up front; a
connection past its jittered lifetime is replaced at checkout and closed when it comes back; a
maintenance thread closes connections idle longer than ``max_idle`` (above ``min_size``), pings
those idle for ``keepalive`` seconds, and reconnects while the server is down, paced by a
jittered backoff during which checkouts fail at once with the last reason. A ``READONLY`` reply
(the server became a replica, e.g. after a failover) evicts every connection, so that new ones
reach whatever the address points at now; at most once per ``reconnect_min``, so that a server
that stays a replica does not make every write reconnect the whole pool.

Idle reaping measures from a connection's last *use* (``released_at``); a keepalive ping
stamps ``pinged_at`` only, so pings never keep an idle connection alive. Every connection that
comes back, from a caller or from maintenance, goes through :meth:`CountingPool._put_back`,
which pays what a shrinking resize still owes before redis-py's queue could overflow.

The maintenance thread holds its pool weakly, but redis-py (8.x, RESP3) keeps every pool in a
reference cycle of its own (its maintenance-notifications handler), so a pool dropped without
``close()`` lives until the cyclic garbage collector runs. So the owners stop maintenance
themselves: :class:`RedisPool` when it is dropped unclosed (``weakref.finalize``), the cluster
pool for nodes that left the slot map, and ``close()`` always.
"""

# redis-py's connection and pool classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
import weakref
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import redis
import redis.exceptions
from redis.connection import (
    AbstractConnection,
    BlockingConnectionPool,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)

from dbplex.backends import Source
from dbplex.errors import ConfigError, DbplexError, UnsupportedError
from dbplex.pool import PoolCounters, PoolStats
from dbplex.pooling import housekeeper
from dbplex.pooling.jitter import Backoff, lifetime_deadline
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error
from dbplex.secrets import scrub
from dbplex_redis.errors import RedisPoolTimeout, RedisSourceUnavailable, address, connect_failed

_perf_counter = time.perf_counter
log = logging.getLogger("dbplex.pool")
#: seconds a command waits for its reply when nothing else says: redis-py 8's own default, set
#: here so that it does not change with the driver.
DEFAULT_OPERATION_TIMEOUT = 5.0
#: errors that close a connection because it broke, as opposed to being closed on purpose.
_BREAKING = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class _Bounded(AbstractConnection):
    """A connection that connects (TCP, TLS and handshake) within ``socket_connect_timeout``.

    It also counts for the pool: connections created and how long that took, attempts that
    failed (raised as :class:`RedisSourceUnavailable` with the reason), and connections lost
    to an error.
    """

    #: redis-py's socket (which its annotations call always None).
    _sock: Any

    def __init__(
        self,
        *,
        dbplex_source: str,
        dbplex_counters: PoolCounters,
        dbplex_jitter: float = 0.0,
        dbplex_lifetime: float = math.inf,
        dbplex_pool: CountingPool | None = None,
        **kwargs: Any,
    ) -> None:
        self.dbplex_source = dbplex_source
        self.dbplex_counters = dbplex_counters
        self.dbplex_where = address(kwargs)
        self.dbplex_lifetime = dbplex_lifetime
        self.dbplex_jitter = dbplex_jitter
        #: the pool this connection belongs to (None outside one): its backoff and READONLY eviction.
        self.dbplex_pool = dbplex_pool
        #: perf_counter when the socket was opened, when it is due for replacement, when the pool
        #: last handed it out (0: not), when it last came back from use (idle reaping measures
        #: from this) and when a keepalive last pinged it.
        self.connected_at = 0.0
        self.expires_at = math.inf
        self.checked_out_at = 0.0
        self.released_at = 0.0
        self.pinged_at = 0.0
        self._deadline = 0.0
        self._connecting = False
        super().__init__(**kwargs)

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _budget(self) -> float:
        return max(self._deadline - _perf_counter(), 0.001)

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if self._sock is not None:  # the hot path: every checkout asks
            return
        backoff = self.dbplex_pool.backoff if self.dbplex_pool is not None else None
        if backoff is not None and backoff.wait_left():
            raise RedisSourceUnavailable(
                f"{backoff.reason} (down for {time.monotonic() - (backoff.down_since or 0):.1f}s; "
                f"next attempt in {backoff.wait_left():.1f}s)"
            )
        started = _perf_counter()
        self._deadline = started + (self.socket_connect_timeout or 0)
        self._connecting = True
        try:
            super().connect_check_health(*args, **kwargs)
        except Exception as exc:
            self.dbplex_counters.count("errors")
            if not isinstance(exc, DbplexError):
                timeout = self.socket_connect_timeout or 0
                exc = connect_failed(self.dbplex_source, self.dbplex_where, self.username, timeout, exc)
            if backoff is not None:
                backoff.failed(str(exc))
            raise exc from None
        finally:
            self._connecting = False
        sock: Any = self._sock  # open now (mypy still narrows it to None from the check above)
        sock.settimeout(self.socket_timeout)  # the handshake ran on the connect budget; commands get theirs
        self.connected_at = now = _perf_counter()
        self.expires_at = lifetime_deadline(now, self.dbplex_lifetime, self.dbplex_jitter)
        if backoff is not None:
            backoff.succeeded()
        self.dbplex_counters.count("created")
        self.dbplex_counters.time("create", (now - started) * 1000)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.exceptions.ReadOnlyError:
            if self.dbplex_pool is not None:
                self.dbplex_pool.evict(f"{self.dbplex_where} answered READONLY (it is a replica now)")
            raise

    def _connect(self) -> Any:
        # The socket keeps this timeout through the TLS and Redis handshakes; see connect_check_health.
        timeout = self.socket_timeout
        self.socket_timeout = self._budget()
        try:
            return super()._connect()  # type: ignore[safe-super]  # the MRO reaches the concrete class's
        finally:
            self.socket_timeout = timeout

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        # redis-py closes a broken connection while handling the error that showed it broke.
        if self.is_open and not self._connecting and isinstance(sys.exc_info()[1], _BREAKING):
            self.dbplex_counters.count("lost")
        super().disconnect(*args, **kwargs)


class BoundedConnection(_Bounded, Connection):
    """TCP (``redis://``)."""


class BoundedSSLConnection(_Bounded, SSLConnection):
    """TLS (``rediss://``)."""


class BoundedUnixConnection(_Bounded, UnixDomainSocketConnection):
    """Unix domain socket (``unix://``)."""


_BOUNDED: dict[type[Any], type[Any]] = {
    Connection: BoundedConnection,
    SSLConnection: BoundedSSLConnection,
    UnixDomainSocketConnection: BoundedUnixConnection,
}


def check_database_path(url: str) -> None:
    """ValueError unless a ``redis://`` URL's path is empty or a database number.

    redis-py reads ``redis://host/notadb`` as database 0 without a word, which would put the data
    somewhere the user did not ask for. The path is not echoed: in a URL whose password holds
    an unencoded ``/`` it would be part of the password.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        return  # unix:// names the database in ?db=, which redis-py checks itself
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("the URL's path is not a database number; write redis://host:port/N with N from 0")


def connection_kwargs(source: Source, counters: PoolCounters) -> dict[str, Any]:
    """redis-py connection arguments: the URL's, then the source's settings over them."""
    try:
        kwargs: dict[str, Any] = parse_url(source.url)
        check_database_path(source.url)
    except ValueError as exc:
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    _check_url_options(source, kwargs)
    kwargs["connection_class"] = _BOUNDED[kwargs.get("connection_class", Connection)]
    kwargs.setdefault("protocol", 3)  # RESP3 whatever redis-py's default: maps, doubles and booleans as such
    kwargs["decode_responses"] = False  # replies are decoded by dbplex: values are MessagePack bytes
    for pool_setting in ("max_connections", "timeout"):  # the source's pool settings decide these
        kwargs.pop(pool_setting, None)
    kwargs["socket_connect_timeout"] = source.config.connect_timeout
    kwargs["dbplex_jitter"] = source.config.pool.lifetime_jitter
    kwargs["socket_timeout"] = operation_timeout(source, kwargs.get("socket_timeout"))
    kwargs["dbplex_source"] = source.name
    kwargs["dbplex_counters"] = counters
    return kwargs


def operation_timeout(source: Source, from_url: float | None = None) -> float:
    """How long a command waits for its reply (redis-py's ``socket_timeout``): the source's
    ``options.socket_timeout``, else its ``operation_timeout``, else the URL's
    ``socket_timeout``, else :data:`DEFAULT_OPERATION_TIMEOUT`."""
    return source.options.socket_timeout or source.config.operation_timeout or from_url or DEFAULT_OPERATION_TIMEOUT


def pool_kwargs(source: Source) -> dict[str, Any]:
    """:class:`CountingPool` arguments from the source's ``pool`` settings."""
    config = source.config.pool
    return {
        "max_connections": config.max_size,
        "timeout": config.timeout,
        "min_size": config.min_size,
        "max_idle": config.max_idle,
        "max_lifetime": config.max_lifetime,
        "max_waiting": config.max_waiting,
        "keepalive": config.keepalive,
        "leak_threshold": config.leak_threshold,
        "reconnect": (config.reconnect_min, config.reconnect_max),
    }


def _check_url_options(source: Source, kwargs: dict[str, Any]) -> None:
    """redis-py checks some URL options (``protocol``, ``ssl_cert_reqs``, an option the scheme's
    connection does not take) only when it makes a connection; make one, never opened, so that
    such a URL is a :class:`ConfigError` when the source opens."""
    options = {key: value for key, value in kwargs.items() if key != "connection_class"}
    try:
        kwargs.get("connection_class", Connection)(**options)
    except (TypeError, ValueError, redis.exceptions.RedisError) as exc:
        raise ConfigError(
            f"source {source.name!r}: a URL option is not valid for redis-py: {scrub(str(exc))}"
        ) from None


class CountingPool(BlockingConnectionPool):
    """redis-py's blocking pool with what it lacks (see the module's docstring), counting
    checkouts and naming the source when it times out."""

    #: the pool itself and its counters are no connection settings to show (and would recurse).
    OMIT_REPR_KEYS = BlockingConnectionPool.OMIT_REPR_KEYS | {"dbplex_pool", "dbplex_counters"}

    def __init__(
        self,
        *,
        source: str,
        counters: PoolCounters,
        max_lifetime: float,
        min_size: int = 0,
        max_idle: float = math.inf,
        max_waiting: int = 0,
        keepalive: float = 0.0,
        leak_threshold: float = 0.0,
        reconnect: tuple[float, float] = (1.0, 10.0),
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.counters = counters
        self.closed = False
        self.min_size = min_size
        self.max_idle = max_idle
        self.max_waiting = max_waiting
        self.keepalive = keepalive
        self.backoff = Backoff(*reconnect)
        #: None unless leak detection is on: the checkout path tests this one attribute.
        self.leaks = LeakDetector(source, leak_threshold, counters) if leak_threshold else None
        #: connections to close as they come back, owed by a resize that shrank the pool.
        self._shrink_owed = 0
        #: monotonic time of the last READONLY eviction (rate-limited to one per reconnect_min).
        self._evicted_at = -math.inf
        super().__init__(dbplex_lifetime=max_lifetime, dbplex_pool=self, **kwargs)
        self._housekeeper = housekeeper.Housekeeper(
            source, housekeeper.interval(keepalive, leak_threshold, min(max_idle, reconnect[1])), self.maintain
        )

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise RedisSourceUnavailable(f"source {self.source!r}: its pool is closed")
        counters = self.counters
        waits = not self.pool.queue  # every connection is out: this caller will wait
        if waits and not counters.start_waiting(self.max_waiting):
            raise full_error(self.source, self.max_waiting, counters)
        started = _perf_counter()
        try:
            conn = super().get_connection()
        except DbplexError:
            raise
        except redis.exceptions.ConnectionError:
            # redis-py raises the same error for a full pool as for a broken connection.
            if _perf_counter() - started < self.timeout:
                raise
            counters.count("timeouts")
            held = self.leaks.describe() if self.leaks is not None else ""
            raise RedisPoolTimeout(
                f"source {self.source!r}: no connection became free within {self.timeout:g}s "
                f"(all {self.max_connections} in use; raise pool.max_size or pool.timeout){held}"
            ) from None
        finally:
            if waits:
                counters.count("pending", -1)
        now = _perf_counter()
        if conn.expires_at <= now:  # past its lifetime (or evicted) while idle: never handed out
            self._recycle(conn)
            try:
                conn.connect()
            except BaseException:
                self._put_back(conn)
                raise
            now = _perf_counter()
        conn.checked_out_at = now
        counters.time("wait", (now - started) * 1000)  # one per checkout: stats() reads acquired from it
        if self.leaks is not None:
            self.leaks.taken(conn)
        return conn

    def release(self, connection: Any) -> None:
        taken = connection.checked_out_at
        if taken:
            connection.checked_out_at = 0.0
            connection.released_at = now = _perf_counter()
            self.counters.time("use", (now - taken) * 1000)
            if self.leaks is not None:
                self.leaks.returned(connection)
            if connection.expires_at <= now:
                self._recycle(connection)
        self._put_back(connection)

    def _put_back(self, conn: Any) -> None:
        """Every way back into the pool (callers, maintenance, warm-up): a shrink still owed is
        paid first, for redis-py's queue, already at its new size, would drop it silently."""
        if self._shrink_owed and self._retire(conn):
            return
        BlockingConnectionPool.release(self, conn)

    def _recycle(self, conn: Any) -> None:
        """Close a connection on purpose (lifetime, eviction, idleness); it reopens on its next checkout."""
        if conn.is_open:
            conn.disconnect()
            self.counters.count("recycled")

    def _retire(self, conn: Any) -> bool:
        """Drop a returning connection for good, if a shrink still owes one."""
        with self.pool.mutex:
            if not self._shrink_owed:
                return False
            self._shrink_owed -= 1
            if conn in self._connections:
                self._connections.remove(conn)
        self._recycle(conn)
        return True

    def evict(self, why: str) -> None:
        """Replace every connection: idle ones at their next checkout, those in use when they come back.

        At most once per ``reconnect_min``: while a server stays a replica, every write meets
        READONLY, and each eviction would otherwise reconnect the whole pool again.
        """
        now = time.monotonic()
        with self.pool.mutex:
            if now - self._evicted_at < self.backoff.minimum:
                return
            self._evicted_at = now
        log.warning("source %r: %s; replacing its connections", self.source, why)
        for conn in list(self._connections):
            conn.expires_at = 0.0

    def resize(self, min_size: int, max_size: int) -> None:
        """Grow at once; shrink by dropping the least recently used idle slots now, and connections
        in use as they come back."""
        dropped = []
        with self.pool.mutex:
            queue = self.pool.queue  # LIFO: the bottom (index 0) is the least recently used
            change = max_size - self.max_connections
            if change > 0:
                queue[:0] = [None] * change
                self.pool.not_empty.notify(change)
            while change < 0 and queue:
                slot = queue.pop(0)
                if slot is not None:
                    self._connections.remove(slot)
                    dropped.append(slot)
                change += 1
            self._shrink_owed -= min(change, 0)
            self.max_connections = self.pool.maxsize = max_size
            self.min_size = min_size
        for conn in dropped:
            self._recycle(conn)
        self.fill()

    def maintain(self) -> None:
        """A maintenance round: leak reports, idle reaping, keepalive pings, reconnection and min_size."""
        if self.closed:
            return
        if self.leaks is not None:
            self.leaks.sweep()
        now = _perf_counter()
        with self.pool.mutex:
            idle = sorted((c for c in self.pool.queue if c is not None and c.is_open), key=lambda c: c.released_at)
            open_count = len(idle) + sum(1 for c in self._connections if c.checked_out_at)
            due = []
            for conn in idle:
                if conn.expires_at <= now or (open_count > self.min_size and now - conn.released_at >= self.max_idle):
                    self._recycle(conn)
                    open_count -= 1
                elif self.keepalive and now - max(conn.released_at, conn.pinged_at) >= self.keepalive:
                    due.append(conn)
            for conn in due:  # out of the queue while pinged, so no caller gets it half-way
                self.pool.queue.remove(conn)
        for conn in due:
            self._ping(conn)
        self.fill()

    def _ping(self, conn: Any) -> None:
        """Keepalive: one PING on an idle connection; a connection that fails it is closed (counted lost)."""
        try:
            conn.send_command("PING")
            if not conn.can_read(timeout=conn.socket_connect_timeout):
                self.counters.count("lost")
                conn.disconnect()
            else:
                conn.read_response()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            conn.disconnect()  # counted lost: closed while handling the error
        finally:
            conn.pinged_at = _perf_counter()  # not released_at: a ping is no use, idle reaping goes on
            self._put_back(conn)

    def fill(self) -> None:
        """Open connections up to ``min_size``, unless the backoff says the server is still down."""
        if self.closed or self.backoff.wait_left():
            return
        with self.pool.mutex:
            missing = self.min_size - sum(1 for c in self._connections if c.is_open)
        if missing > 0:
            with contextlib.suppress(DbplexError):  # the backoff keeps the reason; checkouts report it
                self.warm_up(missing)

    def warm_up(self, count: int) -> None:
        """Open up to ``count`` connections in idle slots now (redis-py opens them on demand only);
        not counted as checkouts."""
        with self.pool.mutex:
            slots = [slot for slot in self.pool.queue if slot is None or not slot.is_open][:count]
            for slot in slots:
                self.pool.queue.remove(slot)
        conns = [slot or self.make_connection() for slot in slots]
        try:
            for conn in conns:
                conn.connect()
        finally:
            now = _perf_counter()
            for conn in conns:
                conn.released_at = now
                self._put_back(conn)

    def stop_maintenance(self) -> None:
        """End the maintenance thread without closing anything (a pool its owner dropped)."""
        self._housekeeper.stop(wait=False)

    def close(self) -> None:
        self.closed = True
        self._housekeeper.stop()
        self.disconnect()

    def gauges(self) -> tuple[int, int]:
        """Open connections idle in the pool, and connections checked out."""
        with self.pool.mutex:
            waiting = [conn for conn in self.pool.queue if conn is not None]
            created = len(self._connections)
        idle = sum(1 for conn in waiting if conn.is_open)
        return idle, created - len(waiting)


C = TypeVar("C")


class Lease(Generic[C]):
    """``Pool.connection()`` of both Redis backends: hands out the shared client; nothing to give back."""

    __slots__ = ("client",)

    def __init__(self, client: C) -> None:
        self.client = client

    def __enter__(self) -> C:
        return self.client

    def __exit__(self, *exc: object) -> None:
        return None


def pool_stats(
    source: Source, counters: PoolCounters, pools: list[CountingPool], min_size: int, max_size: int
) -> PoolStats:
    """The stats of one or more counting pools sharing ``counters`` (a cluster's nodes add up)."""
    idle = used = 0
    for pool in pools:
        pool_idle, pool_used = pool.gauges()
        idle, used = idle + pool_idle, used + pool_used
    stats = PoolStats(
        source=source.name,
        backend=source.backend,
        size=idle + used,
        idle=idle,
        used=used,
        min=min_size,
        max=max_size,
    )
    counters.fill(stats)
    stats.acquired = stats.wait.count  # one wait per checkout
    return stats


class RedisPool:
    """The :class:`dbplex.pool.Pool` of a Redis source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        self.counters = PoolCounters()
        self.redis_pool = CountingPool(
            source=source.name,
            counters=self.counters,
            **pool_kwargs(source),
            **connection_kwargs(source, self.counters),
        )
        try:
            self.redis_pool.warm_up(config.min_size)
        except BaseException:
            self.redis_pool.close()
            raise
        #: the native client every ``connection()`` yields.
        self.client = redis.Redis(connection_pool=self.redis_pool)
        # Dropped unclosed: no more maintenance rounds (the pool itself waits for the cyclic GC).
        weakref.finalize(self, self.redis_pool.stop_maintenance)
        self._lease = Lease(self.client)

    def connection(self) -> Lease[redis.Redis]:
        return self._lease

    def transaction(self) -> Lease[redis.Redis]:
        raise UnsupportedError(
            f"source {self.source.name!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
            "commands inside them; use the redis.pipeline op with transaction=true for an atomic batch"
        )

    def stats(self) -> PoolStats:
        pool = self.redis_pool
        return pool_stats(self.source, self.counters, [pool], pool.min_size, pool.max_connections)

    def resize(self, min_size: int, max_size: int) -> None:
        self.redis_pool.resize(min_size, max_size)

    def close(self) -> None:
        self.redis_pool.close()

    def __repr__(self) -> str:
        return f"RedisPool(source={self.source.name!r}, url={self.source.redacted_url!r})"


def connect(source: Source) -> redis.Redis:
    """One new client on one connection of its own, opened now; ``close()`` closes it."""
    pool = ConnectionPool(max_connections=1, **connection_kwargs(source, PoolCounters()))
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    client.auto_close_connection_pool = True
    return client
