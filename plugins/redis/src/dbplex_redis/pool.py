"""The Redis pool: one redis-py client over a counting ``BlockingConnectionPool``.

``connection()`` hands out the client itself, as redis-py intends: the client is thread-safe
and borrows a pooled connection for each command (or pipeline) only. So the pool's counters
count those borrowings: ``acquired`` is commands and pipelines sent, ``wait`` the time to get
a connection (including opening it), ``use`` how long one was held.

redis-py has no minimum size and no idle limit: the pool opens ``min_size`` connections up
front, closes a connection that has lived longer than ``max_lifetime`` when it comes back, and
does not enforce ``max_idle`` (idle connections stay open; Redis's own ``timeout`` setting can
close them, and a closed one is reopened on its next checkout).
"""

# redis-py's connection and pool classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import sys
import time
from typing import Any

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
from dbplex.secrets import scrub
from dbplex_redis.errors import RedisPoolTimeout, RedisSourceUnavailable, address, connect_failed

_perf_counter = time.perf_counter
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

    def __init__(self, *, dbplex_source: str, dbplex_counters: PoolCounters, **kwargs: Any) -> None:
        self.dbplex_source = dbplex_source
        self.dbplex_counters = dbplex_counters
        self.dbplex_where = address(kwargs)
        #: perf_counter when the socket was opened, and when the pool last handed it out (0: not).
        self.connected_at = 0.0
        self.checked_out_at = 0.0
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
        started = _perf_counter()
        self._deadline = started + (self.socket_connect_timeout or 0)
        self._connecting = True
        try:
            super().connect_check_health(*args, **kwargs)
        except Exception as exc:
            self.dbplex_counters.count("errors")
            if isinstance(exc, DbplexError):
                raise
            timeout = self.socket_connect_timeout or 0
            raise connect_failed(self.dbplex_source, self.dbplex_where, self.username, timeout, exc) from None
        finally:
            self._connecting = False
        sock: Any = self._sock  # open now (mypy still narrows it to None from the check above)
        sock.settimeout(self.socket_timeout)  # the handshake ran on the connect budget; commands get theirs
        self.connected_at = now = _perf_counter()
        self.dbplex_counters.count("created")
        self.dbplex_counters.time("create", (now - started) * 1000)

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


def connection_kwargs(source: Source, counters: PoolCounters) -> dict[str, Any]:
    """redis-py connection arguments: the URL's, then the source's settings over them."""
    try:
        kwargs: dict[str, Any] = parse_url(source.url)
    except ValueError as exc:
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    kwargs["connection_class"] = _BOUNDED[kwargs.get("connection_class", Connection)]
    kwargs.setdefault("protocol", 3)  # RESP3 whatever redis-py's default: maps, doubles and booleans as such
    kwargs["decode_responses"] = False  # replies are decoded by dbplex: values are MessagePack bytes
    for pool_setting in ("max_connections", "timeout"):  # the source's pool settings decide these
        kwargs.pop(pool_setting, None)
    kwargs["socket_connect_timeout"] = source.config.connect_timeout
    if source.options.socket_timeout is not None:
        kwargs["socket_timeout"] = source.options.socket_timeout
    kwargs["dbplex_source"] = source.name
    kwargs["dbplex_counters"] = counters
    return kwargs


class CountingPool(BlockingConnectionPool):
    """redis-py's blocking pool, counting checkouts and naming the source when it times out."""

    def __init__(self, *, source: str, counters: PoolCounters, max_lifetime: float, **kwargs: Any) -> None:
        self.source = source
        self.counters = counters
        self.max_lifetime = max_lifetime
        self.closed = False
        super().__init__(**kwargs)

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise RedisSourceUnavailable(f"source {self.source!r}: its pool is closed")
        counters = self.counters
        waits = not self.pool.queue  # every connection is out: this caller will wait
        if waits:
            counters.count("pending")
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
            raise RedisPoolTimeout(
                f"source {self.source!r}: no connection became free within {self.timeout:g}s "
                f"(all {self.max_connections} in use; raise pool.max_size or pool.timeout)"
            ) from None
        finally:
            if waits:
                counters.count("pending", -1)
        conn.checked_out_at = now = _perf_counter()
        counters.time("wait", (now - started) * 1000)  # one per checkout: stats() reads acquired from it
        return conn

    def release(self, connection: Any) -> None:
        taken = connection.checked_out_at
        if taken:
            connection.checked_out_at = 0.0
            now = _perf_counter()
            self.counters.time("use", (now - taken) * 1000)
            if connection.connected_at and now - connection.connected_at > self.max_lifetime:
                connection.disconnect()
        super().release(connection)

    def warm_up(self, count: int) -> None:
        """Open ``count`` connections now (redis-py opens them on demand only); not counted as checkouts."""
        opened = []
        try:
            for _ in range(count):
                opened.append(BlockingConnectionPool.get_connection(self))
        finally:
            for conn in opened:
                BlockingConnectionPool.release(self, conn)

    def close(self) -> None:
        self.closed = True
        self.disconnect()

    def gauges(self) -> tuple[int, int]:
        """Open connections idle in the pool, and connections checked out."""
        with self.pool.mutex:
            waiting = [conn for conn in self.pool.queue if conn is not None]
            created = len(self._connections)
        idle = sum(1 for conn in waiting if conn.is_open)
        return idle, created - len(waiting)


class _Lease:
    """``Pool.connection()``: hands out the shared client; nothing to give back."""

    __slots__ = ("client",)

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def __enter__(self) -> redis.Redis:
        return self.client

    def __exit__(self, *exc: object) -> None:
        return None


class RedisPool:
    """The :class:`dbplex.pool.Pool` of a Redis source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        self.counters = PoolCounters()
        self.redis_pool = CountingPool(
            source=source.name,
            counters=self.counters,
            max_lifetime=config.max_lifetime,
            max_connections=config.max_size,
            timeout=config.timeout,
            **connection_kwargs(source, self.counters),
        )
        try:
            self.redis_pool.warm_up(config.min_size)
        except BaseException:
            self.redis_pool.close()
            raise
        #: the native client every ``connection()`` yields.
        self.client = redis.Redis(connection_pool=self.redis_pool)
        self._lease = _Lease(self.client)

    def connection(self) -> _Lease:
        return self._lease

    def transaction(self) -> _Lease:
        raise UnsupportedError(
            f"source {self.source.name!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
            "commands inside them; use the redis.pipeline op with transaction=true for an atomic batch"
        )

    def stats(self) -> PoolStats:
        config = self.source.config.pool
        idle, used = self.redis_pool.gauges()
        stats = PoolStats(
            source=self.source.name,
            backend=self.source.backend,
            size=idle + used,
            idle=idle,
            used=used,
            min=config.min_size,
            max=config.max_size,
        )
        self.counters.fill(stats)
        stats.acquired = stats.wait.count
        return stats

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
