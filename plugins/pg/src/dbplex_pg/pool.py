"""A psycopg_pool.ConnectionPool behind dbplex's Pool protocol and stats schema.

psycopg_pool keeps gauges and totals (size, available, waiting, connection errors, losses);
per-checkout wait and use times, and the time to open each connection, come from
:class:`~dbplex.pool.PoolCounters`, so each number has exactly one source.

What psycopg_pool leaves out, dbplex adds: a checkout never hands out a connection the server
closed while it sat idle (``idle_session_timeout``, a restart, a proxy), nor one past its
jittered lifetime; after a failover, a write refused with SQLSTATE 25006 on a server that turns
out to be in recovery empties the pool, so that new connections find the new primary (with a
multi-host URL and ``target_session_attrs=read-write``). ``max_waiting`` and ``resize()`` map
onto psycopg_pool.

**Server down.** psycopg_pool reconnects in the background; its own pacing (1 s, doubling
without a cap, giving up after ``reconnect_timeout``) is replaced by dbplex's: each attempt
loop waits a delay drawn from ``[d/2, d]`` where ``d`` doubles from ``reconnect_min`` up to
``reconnect_max``, and never gives up. While the latest attempt failed and the pool has no
connection (idle or in use), a checkout fails at once with SourceUnavailable naming the source
and the reason, instead of waiting ``pool.timeout`` for a connection that cannot come, and
health reports DOWN; the first successful attempt ends that.

**Keepalive.** Every ``keepalive`` seconds the maintenance thread pings the connections that
have been idle that long, one at a time (taken from the pool like any checkout, the least
recently used first), replacing one that fails. Unlike ``psycopg_pool.check()``, which takes
every idle connection out of the pool for the whole serial round, at most one idle connection
is unavailable to callers at any moment; the cost is one round trip per idle connection per
``keepalive``.
"""

from __future__ import annotations

import math
import random
import select
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic, perf_counter
from types import TracebackType

import psycopg
import psycopg_pool
from psycopg_pool.base import AttemptWithBackoff

from dbplex.backends import Source
from dbplex.errors import PoolTimeout, SourceUnavailable
from dbplex.pool import PoolStats
from dbplex.pooling import housekeeper
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error
from dbplex_pg import deadline
from dbplex_pg.connection import PgConnection, connect_kwargs, connection_class, open_connection
from dbplex_pg.errors import query_failure


class _Attempt(AttemptWithBackoff):
    """psycopg_pool's reconnection attempt with dbplex's pacing (see the module's docstring)."""

    def __init__(self, minimum: float, maximum: float) -> None:
        super().__init__(timeout=math.inf)
        self._minimum, self._maximum, self._base = minimum, maximum, 0.0

    def update_delay(self, now: float) -> None:
        self._base = min(max(self._base * 2, self._minimum), self._maximum)
        self.delay = random.uniform(self._base / 2, self._base)

    def time_to_give_up(self, now: float) -> bool:
        return False


class _ConnectionPool(psycopg_pool.ConnectionPool[PgConnection]):
    """psycopg_pool's pool whose reconnection attempts follow ``reconnect_min``/``reconnect_max``."""

    dbplex_reconnect: tuple[float, float] = (1.0, 10.0)

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        super()._add_connection(attempt or _Attempt(*self.dbplex_reconnect), growing)


class PgPool:
    """The connections of one PostgreSQL source."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        connection_type = connection_class(source)
        self._state = connection_type.state
        self._counters = self._state.counters
        self._timeout = config.timeout
        self._max_waiting = config.max_waiting
        #: None unless ``pool.leak_threshold`` is set: the checkout path tests this one attribute.
        self.leaks = LeakDetector(source.name, config.leak_threshold, self._counters) if config.leak_threshold else None
        # psycopg_pool connects in the background and retries quietly; one connection up front
        # makes an unreachable server or a rejected login fail now, with libpq's reason.
        open_connection(source, psycopg.Connection).close()
        self._pool = _ConnectionPool(
            source.url,
            connection_class=connection_type,
            kwargs=connect_kwargs(source),
            min_size=config.min_size,
            max_size=config.max_size,
            timeout=config.timeout,
            max_idle=config.max_idle,
            max_lifetime=config.max_lifetime,
            max_waiting=config.max_waiting,
            name=f"dbplex:{source.name}",
            open=False,
        )
        self._pool.dbplex_reconnect = (config.reconnect_min, config.reconnect_max)
        self._pool.open()
        self._keepalive = config.keepalive
        self._next_check = monotonic() + config.keepalive
        self._housekeeper = housekeeper.Housekeeper(
            source.name,
            housekeeper.interval(config.keepalive, config.leak_threshold, deadline.sweep_interval(source)),
            self._maintain,
        )

    def _maintain(self) -> None:
        deadline.sweep(self._state)
        if self.leaks is not None:
            self.leaks.sweep()
        if self._keepalive and monotonic() >= self._next_check:
            self._next_check = monotonic() + self._keepalive
            self._ping_idle()

    def _ping_idle(self) -> None:
        """Keepalive: ping, one at a time, the idle connections unused for ``keepalive`` seconds.

        psycopg_pool hands out the least recently returned connection first, so the round stops
        at the first one used more recently than that (or when none is idle).
        """
        pool = self._pool
        for _ in range(pool.get_stats()["pool_available"]):
            if not pool.get_stats()["pool_available"]:
                return  # callers took them meanwhile: they are in use, not idle
            try:
                conn = pool.getconn(self._timeout)
            except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests, psycopg_pool.PoolClosed):
                return
            try:
                if monotonic() - conn.returned_at < self._keepalive:
                    return  # and all after it: used since the last round
                if conn.expires_at <= monotonic():
                    self._recycle(conn)
                elif not _alive(conn):
                    conn.close()  # counted as lost (returns_bad); the pool opens a replacement
                else:
                    try:
                        conn.execute("")
                    except psycopg.Error:
                        conn.close()
                    conn.returned_at = monotonic()
            finally:
                pool.putconn(conn)

    def connection(self) -> _Checkout:
        """Check out a connection (autocommit mode); it goes back when the block ends."""
        return _Checkout(self)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """A connection inside BEGIN ... COMMIT, or ROLLBACK when the block raises."""
        with self.connection() as conn:
            in_block = False
            try:
                with conn.transaction():
                    in_block = True
                    yield conn
                    in_block = False
            except psycopg.Error as exc:
                if in_block:  # raised by the caller's own use of the connection: theirs to see
                    raise
                raise query_failure(self.source.name, conn, exc) from exc  # BEGIN or COMMIT failed

    def stats(self) -> PoolStats:
        driver = self._pool.get_stats()
        stats = self._counters.fill(
            PoolStats(
                source=self.source.name,
                backend=self.source.backend,
                idle=driver["pool_available"],
                pending=driver.get("requests_waiting", 0),
                min=driver["pool_min"],
                max=driver["pool_max"],
            )
        )
        # psycopg_pool's pool_size also counts connections still being opened; count what exists
        stats.used = stats.acquired - stats.use.count
        stats.size = stats.idle + stats.used
        stats.created = stats.create.count
        stats.errors = driver.get("connections_errors", 0)
        # a connection dbplex closed for its age comes back closed, which psycopg_pool counts as bad
        stats.lost = driver.get("connections_lost", 0) + driver.get("returns_bad", 0) - stats.recycled
        return stats

    def resize(self, min_size: int, max_size: int) -> None:
        self._pool.resize(min_size, max_size)

    def close(self) -> None:
        self._housekeeper.stop()
        self._pool.close()

    def _timed_out(self, exc: psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests) -> PoolTimeout:
        if isinstance(exc, psycopg_pool.TooManyRequests):
            return full_error(self.source.name, self._max_waiting, self._counters)
        self._counters.count("timeouts")
        stats = self.stats()
        message = (
            f"source {self.source.name!r}: no free connection within {self._timeout:g}s "
            f"({stats.used} in use, at most {stats.max})"
        )
        if self._state.last_error:
            message += f"; the last connection attempt failed: {self._state.last_error}"
        if self.leaks is not None:
            message += self.leaks.describe()
        return PoolTimeout(message)

    def _fail_if_down(self) -> None:
        """SourceUnavailable at once while reconnection keeps failing and no connection is left."""
        state, counters = self._state, self._counters
        reason, since = state.last_error, state.down_since
        if reason is None or since is None:
            return
        if counters.acquired - counters.use.count > 0 or self._pool.get_stats()["pool_available"]:
            return  # connections remain (idle or in use): the server may be fine; wait for one
        raise SourceUnavailable(
            f"source {self.source.name!r}: the server is down: {reason} (failing for {monotonic() - since:.1f}s; "
            f"reconnecting in the background every {self._pool.dbplex_reconnect[1]:g}s at most)"
        )

    def _recycle(self, conn: PgConnection) -> None:
        """Close a connection past its lifetime; psycopg_pool opens a replacement when it comes back."""
        conn.close()
        self._counters.count("recycled")

    def __repr__(self) -> str:
        return f"PgPool(source={self.source.name!r})"


class _Checkout:
    """One checkout: times the wait and the use, and returns the connection in autocommit mode."""

    __slots__ = ("_conn", "_owner", "_since")

    def __init__(self, owner: PgPool) -> None:
        self._owner = owner

    def __enter__(self) -> PgConnection:
        owner = self._owner
        if owner._state.last_error is not None:  # the latest connection attempt failed
            owner._fail_if_down()
        started = perf_counter()
        deadline = started + owner._timeout
        while True:
            try:
                conn = owner._pool.getconn(max(deadline - perf_counter(), 0.0))
            except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests) as exc:
                raise owner._timed_out(exc) from None
            if conn.expires_at <= monotonic():
                owner._recycle(conn)
            elif _alive(conn):
                break
            else:
                conn.close()  # counted as lost (returns_bad)
            owner._pool.putconn(conn)  # the pool opens a replacement
        self._since = now = perf_counter()
        owner._counters.checked_out((now - started) * 1000)
        self._conn = conn
        if owner.leaks is not None:
            owner.leaks.taken(conn)
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, owner = self._conn, self._owner
        try:
            if not conn.autocommit:
                _end_user_transaction(conn, failed=exc_type is not None)
            if exc is not None and _demoted(conn, exc):
                owner._pool.drain()
            elif conn.expires_at <= monotonic() and not conn.closed:
                owner._recycle(conn)
        finally:
            owner._counters.checked_in((perf_counter() - self._since) * 1000)
            if owner.leaks is not None:
                owner.leaks.returned(conn)
            conn.returned_at = monotonic()
            owner._pool.putconn(conn)


def _alive(conn: PgConnection) -> bool:
    """False for a connection that is closed, or that has something to read while idle.

    An idle connection has nothing to read unless the server said goodbye (a FATAL message
    before closing it) or sent a notification; telling those apart would cost a read, so such a
    connection is replaced either way. The check is one ``poll`` call, well under 1% of a round trip.
    """
    if conn.closed:
        return False
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


def _demoted(conn: PgConnection, exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused as read-only (25006) by a server that is now in recovery.

    A read-only transaction of the user's own also raises 25006; asking the server tells the two apart.
    """
    error = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    if not isinstance(error, psycopg.Error) or error.sqlstate != "25006" or conn.closed:
        return False
    try:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _end_user_transaction(conn: PgConnection, failed: bool) -> None:
    """Commit or roll back like psycopg_pool would, and switch autocommit back on for the next user.

    Record ops rely on autocommit; a connection that cannot get it back is closed, and the pool
    replaces it.
    """
    try:
        if failed:
            conn.rollback()
        else:
            conn.commit()
    finally:
        try:
            conn.autocommit = True
        except psycopg.Error:
            conn.close()
