"""The dbplex pool of a MongoDB source: one MongoClient (pymongo's own pool) and its stats.

pymongo keeps min/max size, idle reaping (``maxIdleTimeMS``), the wait deadline
(``waitQueueTimeoutMS``), server monitoring and reconnection, and it checks an idle socket
before reusing it. What it lacks, dbplex adds here:

- **lifetime**: pymongo never retires a connection for its age, so the whole client is replaced
  after its jittered ``max_lifetime`` (checked at checkout and by the maintenance thread); the
  old client keeps serving what started on it for a grace period, then is closed;
- **resize**: pymongo's pool sizes are fixed per client, so a resize replaces the client the
  same way;
- **max_waiting**: a checkout fails with :class:`~dbplex.errors.PoolFull` when that many driver
  checkouts are already waiting (a soft bound: concurrent callers may pass it together);
- **leak detection**: the pool monitor records where each driver checkout was made;
- **statistics**: derived from pymongo's connection-pool events, which a listener on each client
  receives (see :mod:`dbplex_mongo.monitor`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from dbplex.backends import Source
from dbplex.pool import PoolStats
from dbplex.pooling import housekeeper
from dbplex.pooling.jitter import lifetime_deadline
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error
from dbplex_mongo import client as client_mod
from dbplex_mongo import conn as conn_mod
from dbplex_mongo.conn import MongoConn
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import options_of
from dbplex_mongo.server import ServerProbe

BACKEND = "mongo"
Doc = dict[str, Any]
#: longest a replaced client stays open for the operations and cursors started on it.
MAX_GRACE = 60.0


class _Checkout:
    """Hands out the pool's current database, replacing the client first when its lifetime is over."""

    __slots__ = ("_pool",)

    def __init__(self, pool: MongoPool) -> None:
        self._pool = pool

    def __enter__(self) -> Database[Doc]:
        pool = self._pool
        if time.monotonic() >= pool.expires_at:
            pool.renew(pool.expires_at)
        if pool.max_waiting and pool.monitor.waiting() >= pool.max_waiting:
            raise full_error(pool.source.name, pool.max_waiting, pool.monitor)
        return pool.database

    def __exit__(self, *exc: object) -> None:
        return None


class MongoPool:
    """A source's MongoClient. ``connection()`` yields its ``Database`` (pymongo checks sockets
    out per operation); ``transaction()`` yields a :class:`MongoConn` bound to a session."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        self.monitor = PoolMonitor()
        if config.leak_threshold:
            self.monitor.leak_detector = LeakDetector(source.name, config.leak_threshold, self.monitor)
        self.min_size, self.max_size, self.max_waiting = config.min_size, config.max_size, config.max_waiting
        self._lock = threading.Lock()
        #: replaced clients and when each is closed: (monotonic deadline, client, its MongoConn).
        self._retired: list[tuple[float, MongoClient[Doc], MongoConn]] = []
        self._open()
        self._checkout = _Checkout(self)
        self._housekeeper = housekeeper.Housekeeper(
            source.name, housekeeper.interval(0.0, config.leak_threshold, self._grace), self._maintain
        )

    @property
    def _grace(self) -> float:
        return min(self.source.config.pool.max_lifetime, MAX_GRACE)

    def _open(self) -> None:
        """A new client (no I/O yet) with the current sizes; it becomes the one checkouts get."""
        config = self.source.config.pool
        listener = self.monitor.listener()
        client = client_mod.open_client(self.source, listener, maxPoolSize=self.max_size, minPoolSize=self.min_size)
        database = client_mod.database_of(self.source, client)
        server = ServerProbe(client, self.source.name)
        conn = MongoConn(database, server, self.monitor, options_of(self.source).gridfs_bucket)
        conn_mod.attach(conn)
        self.client, self.database, self.server, self.conn = client, database, server, conn
        self.listener = listener
        self.expires_at = lifetime_deadline(time.monotonic(), config.max_lifetime, config.lifetime_jitter)

    def renew(self, expired: float | None = None) -> None:
        """Replace the client; the old one is closed after the grace period.

        ``expired`` is the deadline the caller saw pass: a client another thread already replaced
        is not replaced again.
        """
        with self._lock:
            if expired is not None and self.expires_at != expired:
                return
            self.listener.retired = True  # its connections count as recycled as they close
            self._retired.append((time.monotonic() + self._grace, self.client, self.conn))
            self._open()

    def connection(self) -> AbstractContextManager[Database[Doc]]:
        return self._checkout

    @contextmanager
    def transaction(self) -> Iterator[MongoConn]:
        """A multi-document transaction: commit when the block ends, abort if it raises."""
        try:
            self.server.require_replication("MongoDB transactions")
            session = self.client.start_session()
        except DRIVER_ERRORS as exc:
            raise translate(self.source, exc, "starting a transaction") from exc
        with session:
            session.start_transaction()
            try:
                yield self.conn.in_session(session)
            except BaseException:
                session.abort_transaction()  # pymongo swallows abort failures: the server drops it anyway
                raise
            try:
                session.commit_transaction()
            except DRIVER_ERRORS as exc:
                raise translate(self.source, exc, "committing a transaction") from exc

    def resize(self, min_size: int, max_size: int) -> None:
        """pymongo's sizes are fixed per client: a new client takes over, the old one drains."""
        self.min_size, self.max_size = min_size, max_size
        self.renew()

    def _maintain(self) -> None:
        if self.monitor.leak_detector is not None:
            self.monitor.leak_detector.sweep()
        expires_at = self.expires_at
        if time.monotonic() >= expires_at:
            self.renew(expires_at)
        self._close_retired(time.monotonic())

    def _close_retired(self, before: float) -> None:
        with self._lock:
            due = [entry for entry in self._retired if entry[0] <= before]
            self._retired = [entry for entry in self._retired if entry[0] > before]
        for _, client, conn in due:
            conn_mod.detach(conn)
            client.close()

    def stats(self) -> PoolStats:
        return self.monitor.stats(self.source.name, BACKEND, self.min_size, self.max_size)

    def close(self) -> None:
        self._housekeeper.stop()
        self._close_retired(float("inf"))
        conn_mod.detach(self.conn)
        self.client.close()

    def __repr__(self) -> str:
        return f"MongoPool(source={self.source.name!r}, database={self.database.name!r})"
