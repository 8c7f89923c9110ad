"""A small thread-safe connection pool, because sqlite3 has none.

Connections open on demand up to ``max_size`` (``min_size`` of them at once), are handed out
most recently used first, and are closed when they come back older than ``max_lifetime`` or
when they have idled longer than ``max_idle`` while the pool holds more than ``min_size``.
Those checks run on check-in, so the pool needs no background thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

from dbplex import PoolCounters, PoolStats, PoolTimeout, Source, SourceUnavailable

from dbplex_sqlite import errors
from dbplex_sqlite.connect import connect


class _Pooled:
    """A connection and the times the pool needs to retire it."""

    __slots__ = ("conn", "idle_since", "opened")

    def __init__(self, conn: sqlite3.Connection, opened: float) -> None:
        self.conn = conn
        self.opened = opened
        self.idle_since = opened


class SqlitePool:
    """Satisfies :class:`dbplex.Pool` for one SQLite source."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._config = source.config.pool
        self._counters = PoolCounters()
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # waited on only when every connection is out
        self._idle: deque[_Pooled] = deque()  # oldest idle on the left, next to hand out on the right
        self._size = 0  # open connections, plus those being opened
        self._waiting = 0
        self._closed = False
        try:
            for _ in range(self._config.min_size):
                self._size += 1
                self._idle.append(self._open())
        except BaseException:
            self.close()
            raise

    def connection(self) -> _Lease:
        return _Lease(self)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front: a transaction that read first and
        upgraded later could fail with "database is locked" midway, however long it waited."""
        with self.connection() as conn:
            self._run(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            self._run(conn, "COMMIT")

    def stats(self) -> PoolStats:
        with self._lock:
            size, idle, waiting = self._size, len(self._idle), self._waiting
        stats = PoolStats(
            source=self._source.name,
            backend=self._source.backend,
            size=size,
            idle=idle,
            used=size - idle,
            pending=waiting,
            min=self._config.min_size,
            max=self._config.max_size,
        )
        return self._counters.fill(stats)

    def close(self) -> None:
        """Close idle connections now and checked-out ones when they come back."""
        with self._lock:
            self._closed = True
            retired = [pooled.conn for pooled in self._idle]
            self._size -= len(retired)
            self._idle.clear()
            self._returned.notify_all()
        for conn in retired:
            conn.close()

    # -- internals ------------------------------------------------------------------------------

    def _checkout(self) -> _Pooled:
        started = perf_counter()
        deadline = started + self._config.timeout
        with self._lock:
            while not self._idle and self._size >= self._config.max_size and not self._closed:
                remaining = deadline - perf_counter()
                if remaining <= 0:
                    self._counters.count("timeouts")
                    raise PoolTimeout(
                        f"source {self._source.name!r}: no connection became free within pool.timeout = "
                        f"{self._config.timeout}s (all {self._config.max_size} in use); raise pool.max_size "
                        "or hold connections for less time"
                    )
                self._waiting += 1
                self._returned.wait(remaining)
                self._waiting -= 1
            if self._closed:
                raise SourceUnavailable(f"source {self._source.name!r}: the pool is closed")
            pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                self._size += 1  # claim the slot now, open the connection outside the lock
        if pooled is None:
            pooled = self._open()
        self._counters.count("acquired")
        self._counters.time("wait", (perf_counter() - started) * 1000)
        return pooled

    def _open(self) -> _Pooled:
        """Open a connection for a slot already counted in ``_size``; give the slot back on failure."""
        started = perf_counter()
        try:
            conn = connect(self._source)
        except BaseException:
            self._counters.count("errors")
            with self._lock:
                self._size -= 1
                self._wake_one()
            raise
        opened = perf_counter()
        self._counters.count("created")
        self._counters.time("create", (opened - started) * 1000)
        return _Pooled(conn, opened)

    def _checkin(self, pooled: _Pooled, lent_at: float) -> None:
        now = perf_counter()
        self._counters.time("use", (now - lent_at) * 1000)
        usable = _reset(pooled.conn)
        retired = []
        with self._lock:
            if usable and not self._closed and now - pooled.opened < self._config.max_lifetime:
                pooled.idle_since = now
                self._idle.append(pooled)
            else:
                self._size -= 1
                retired.append(pooled.conn)
            while (
                self._size > self._config.min_size
                and self._idle
                and now - self._idle[0].idle_since > self._config.max_idle
            ):
                self._size -= 1
                retired.append(self._idle.popleft().conn)
            self._wake_one()
        if not usable:
            self._counters.count("lost")
        for conn in retired:
            conn.close()

    def _wake_one(self) -> None:
        """Wake a waiting caller (under the lock); notify() costs more than a check when none waits."""
        if self._waiting:
            self._returned.notify()

    def _run(self, conn: sqlite3.Connection, sql: str) -> None:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise errors.query_error(self._source, exc) from None


class _Lease:
    """What ``connection()`` returns: a plain class, as a generator-based context manager would
    cost more than the rest of a checkout."""

    __slots__ = ("_lent_at", "_pool", "_pooled")

    def __init__(self, pool: SqlitePool) -> None:
        self._pool = pool

    def __enter__(self) -> sqlite3.Connection:
        self._pooled = self._pool._checkout()
        self._lent_at = perf_counter()
        return self._pooled.conn

    def __exit__(self, *exc: object) -> None:
        self._pool._checkin(self._pooled, self._lent_at)


def _reset(conn: sqlite3.Connection) -> bool:
    """Roll back what a borrower left open; False when the connection no longer works."""
    try:
        if conn.in_transaction:
            conn.rollback()
    except sqlite3.Error:
        return False
    return True
