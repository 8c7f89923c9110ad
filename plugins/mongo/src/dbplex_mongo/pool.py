"""The dbplex pool of a MongoDB source: one MongoClient (pymongo's own pool) and its stats.

pymongo keeps min/max size, idle reaping (``maxIdleTimeMS``), the wait deadline
(``waitQueueTimeoutMS``), server monitoring and reconnection, and it checks an idle socket
before reusing it. What it lacks, dbplex adds here:

- **lifetime**: pymongo never retires a connection for its age, so the whole client is replaced
  after its jittered ``max_lifetime`` (checked at checkout and by the maintenance thread);
- **resize**: pymongo's pool sizes are fixed per client, so a resize replaces the client the
  same way. A replaced client serves the checkouts already made on it and is closed when the
  last of them ends (at once when there are none): its connections then close and stop being
  counted, so the pool never holds more than its bounds for longer than its slowest checkout;
- **max_waiting**: a checkout fails with :class:`~dbplex.errors.PoolFull` when that many driver
  checkouts are already waiting (a soft bound: concurrent callers may pass it together);
- **leak detection**: the pool monitor records where each driver checkout was made;
- **statistics**: derived from pymongo's connection-pool events, which a listener on each client
  receives (see :mod:`dbplex_mongo.monitor`); ``options.pool_statistics = false`` registers
  none, for the CPU of a raw client.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from dbplex.backends import Source
from dbplex.errors import ConfigError
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


def statistics_needed(source: Source) -> ConfigError:
    """The error of a source whose pool settings need pymongo's events, turned off by ``pool_statistics``."""
    setting = "leak_threshold" if source.config.pool.leak_threshold else "max_waiting"
    return ConfigError(
        f"source {source.name!r}: pool.{setting} needs pymongo's pool events, which "
        f"options.pool_statistics = false turns off: set one of the two back"
    )


class _Client:
    """One MongoClient of the pool and the dbplex checkouts made on it.

    It is the context manager ``connection()`` returns: the checkout is counted when the pool
    hands it out and ends on exit; the last exit of a replaced client closes it. The count is a
    deque of tokens (``append`` and ``pop`` are atomic), so a checkout takes no lock: a client
    is marked ``retired`` before its count is read for closing, and a checkout that finds its
    client retired after counting itself gives its token back and takes the new client.
    """

    __slots__ = (
        "checkouts",
        "client",
        "closed",
        "conn",
        "database",
        "expires_at",
        "listener",
        "pool",
        "retired",
        "server",
    )

    def __init__(self, pool: MongoPool) -> None:
        source, config = pool.source, pool.source.config.pool
        self.pool = pool
        self.listener = pool.monitor.listener()
        self.client = client_mod.open_client(
            source, self.listener, maxPoolSize=pool.monitor.max_size, minPoolSize=pool.monitor.min_size
        )
        self.database = client_mod.database_of(source, self.client)
        self.server = ServerProbe(self.client, source.name)
        self.conn = MongoConn(self.database, self.server, pool.monitor, options_of(source).gridfs_bucket)
        conn_mod.attach(self.conn)
        self.expires_at = lifetime_deadline(time.monotonic(), config.max_lifetime, config.lifetime_jitter)
        #: one token per checkout handed out and not ended.
        self.checkouts: deque[None] = deque()
        #: set when another client took over: close once ``checkouts`` is empty.
        self.retired = False
        self.closed = False

    def __enter__(self) -> Database[Doc]:
        return self.database

    def __exit__(self, *exc: object) -> None:
        checkouts = self.checkouts
        checkouts.pop()
        if self.retired and not checkouts:
            self.pool.close_client(self)

    def close(self) -> None:
        conn_mod.detach(self.conn)
        self.client.close()


class MongoPool:
    """A source's MongoClient. ``connection()`` yields its ``Database`` (pymongo checks sockets
    out per operation); ``transaction()`` yields a :class:`MongoConn` bound to a session."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        statistics = options_of(source).pool_statistics
        if not statistics and (config.leak_threshold or config.max_waiting):
            raise statistics_needed(source)
        self.monitor = PoolMonitor(config.min_size, config.max_size, source, statistics)
        #: publish each checkout's wait for the slow-operation log, only where a threshold is set
        self.monitor.publish_wait = source.config.slow.threshold_ms is not None
        if config.leak_threshold:
            self.monitor.leak_detector = LeakDetector(source.name, config.leak_threshold, self.monitor)
        self.max_waiting = config.max_waiting
        #: guards replacing and closing clients (checkouts take no lock).
        self.lock = threading.Lock()
        self._client = _Client(self)
        #: replaced clients still serving checkouts made on them.
        self._retired: list[_Client] = []
        self._housekeeper = housekeeper.Housekeeper(
            source.name, housekeeper.interval(0.0, config.leak_threshold, config.max_lifetime), self._maintain
        )

    @property
    def client(self) -> MongoClient[Doc]:
        """The current client (what new checkouts use)."""
        return self._client.client

    def renew(self, expired: _Client | None = None) -> None:
        """Replace the client; the old one closes when its last checkout ends.

        ``expired`` is the client whose lifetime the caller saw end: one another thread already
        replaced is not replaced again.
        """
        with self.lock:
            old = self._client
            if expired is not None and old is not expired:
                return
            self._client = _Client(self)
            old.retired = True
            if old.listener is not None:
                old.listener.retired = True  # its connections count as recycled as they close
            self._retired.append(old)
        self.close_client(old)

    def close_client(self, client: _Client) -> None:
        """Close a replaced client if none of its checkouts is left (once, whoever sees it first)."""
        with self.lock:
            if client.closed or client.checkouts:
                return
            client.closed = True
            self._retired.remove(client)
        client.close()

    def connection(self) -> _Client:
        """A checkout of the current client's database (replacing the client first when its
        lifetime is over); operations on the database must happen inside it."""
        current = self._client
        if time.monotonic() >= current.expires_at:
            self.renew(current)
            current = self._client
        if self.max_waiting and self.monitor.waiting() >= self.max_waiting:
            raise full_error(self.source.name, self.max_waiting, self.monitor)
        current.checkouts.append(None)
        if current.retired:  # replaced meanwhile: hand the token back and take the new client
            current.checkouts.pop()
            self.close_client(current)
            return self.connection()
        return current

    @contextmanager
    def transaction(self) -> Iterator[MongoConn]:
        """A multi-document transaction: commit when the block ends, abort if it raises."""
        checkout = self.connection()
        with checkout:
            try:
                checkout.server.require_replication("MongoDB transactions")
                session = checkout.client.start_session()
            except DRIVER_ERRORS as exc:
                raise translate(self.source, exc, "starting a transaction", self.monitor) from exc
            with session:
                session.start_transaction()
                try:
                    yield checkout.conn.in_session(session)
                except BaseException:
                    session.abort_transaction()  # pymongo swallows abort failures: the server drops it anyway
                    raise
                try:
                    session.commit_transaction()
                except DRIVER_ERRORS as exc:
                    raise translate(self.source, exc, "committing a transaction", self.monitor) from exc

    def resize(self, min_size: int, max_size: int) -> None:
        """pymongo's sizes are fixed per client: a new client takes over, the old one closes after its last checkout."""
        self.monitor.min_size, self.monitor.max_size = min_size, max_size
        self.renew()

    def _maintain(self) -> None:
        if self.monitor.leak_detector is not None:
            self.monitor.leak_detector.sweep()
        current = self._client
        if time.monotonic() >= current.expires_at:
            self.renew(current)

    def stats(self) -> PoolStats:
        return self.monitor.stats(self.source.name, BACKEND)

    def close(self) -> None:
        self._housekeeper.stop()
        with self.lock:
            clients, self._retired = [self._client, *self._retired], []
        for client in clients:
            client.closed = True
            client.close()

    def __repr__(self) -> str:
        return f"MongoPool(source={self.source.name!r}, database={self._client.database.name!r})"
