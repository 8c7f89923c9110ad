"""The dbplex pool of a MongoDB source: one MongoClient (pymongo's own pool) and its stats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from pymongo.database import Database

from dbplex.backends import Source
from dbplex.pool import PoolStats
from dbplex_mongo import client as client_mod
from dbplex_mongo import conn as conn_mod
from dbplex_mongo.conn import MongoConn
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import options_of
from dbplex_mongo.server import ServerProbe

BACKEND = "mongo"
Doc = dict[str, Any]


class _Checkout:
    """Hands out the pool's database; stateless, so one instance serves every caller."""

    __slots__ = ("_database",)

    def __init__(self, database: Database[Doc]) -> None:
        self._database = database

    def __enter__(self) -> Database[Doc]:
        return self._database

    def __exit__(self, *exc: object) -> None:
        return None


class MongoPool:
    """A source's MongoClient. ``connection()`` yields its ``Database`` (pymongo checks sockets
    out per operation); ``transaction()`` yields a :class:`MongoConn` bound to a session."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.monitor = PoolMonitor()
        self.client = client_mod.open_client(source, self.monitor)
        self.database = client_mod.database_of(source, self.client)
        self.server = ServerProbe(self.client, source.name)
        self.conn = MongoConn(self.database, self.server, self.monitor, options_of(source).gridfs_bucket)
        conn_mod.attach(self.conn)
        self._checkout = _Checkout(self.database)

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

    def stats(self) -> PoolStats:
        pool = self.source.config.pool
        return self.monitor.stats(self.source.name, BACKEND, pool.min_size, pool.max_size)

    def close(self) -> None:
        conn_mod.detach(self.conn)
        self.client.close()

    def __repr__(self) -> str:
        return f"MongoPool(source={self.source.name!r}, database={self.database.name!r})"
