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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex.pool import PoolStats
from dbplex.pooling import housekeeper
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error
from dbplex_mongo import client as client_mod
from dbplex_mongo import conn as conn_mod
from dbplex_mongo.conn import MongoConn
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import options_of
from dbplex_mongo.rotation import Rotation, Tenure
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


class _Client(Tenure):
    """One MongoClient of the pool and the dbplex checkouts made on it.

    It is the context manager ``connection()`` returns: the checkout is counted when the pool
    hands it out and ends on exit; the last exit of a replaced client closes it.
    """

    __slots__ = ("client", "conn", "database", "server")
    client: MongoClient[Doc]
    database: Database[Doc]

    def __init__(self, rotation: Rotation[_Client], pool: MongoPool) -> None:
        source = pool.source
        super().__init__(rotation, pool.monitor.listener(), source.config.pool)
        self.client = client_mod.open_client(
            source, self.listener, maxPoolSize=pool.monitor.max_size, minPoolSize=pool.monitor.min_size
        )
        self.database = client_mod.database_of(source, self.client)
        self.server = ServerProbe(self.client, source.name)
        self.conn = MongoConn(self.database, self.server, pool.monitor, options_of(source).gridfs_bucket)
        conn_mod.attach(self.conn)

    def __enter__(self) -> Database[Doc]:
        return self.database

    def __exit__(self, *exc: object) -> None:
        self.end()

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
        self.rotation: Rotation[_Client] = Rotation(lambda rotation: _Client(rotation, self), _Client.close)
        self._housekeeper = housekeeper.Housekeeper(
            source.name, housekeeper.interval(0.0, config.leak_threshold, config.max_lifetime), self._maintain
        )

    @property
    def client(self) -> MongoClient[Doc]:
        """The current client (what new checkouts use)."""
        return self.rotation.current.client

    def connection(self) -> _Client:
        """A checkout of the current client's database (replacing the client first when its
        lifetime is over); operations on the database must happen inside it."""
        if self.max_waiting and self.monitor.waiting() >= self.max_waiting:
            raise full_error(self.source.name, self.max_waiting, self.monitor)
        return self.rotation.checkout()

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
        self.rotation.renew()

    def _maintain(self) -> None:
        if self.monitor.leak_detector is not None:
            self.monitor.leak_detector.sweep()
        self.rotation.expire()

    def stats(self) -> PoolStats:
        return self.monitor.stats(self.source.name, BACKEND)

    def close(self) -> None:
        self._housekeeper.stop()
        for client in self.rotation.take_all():
            client.close()

    def __repr__(self) -> str:
        return f"MongoPool(source={self.source.name!r}, database={self.rotation.current.database.name!r})"
