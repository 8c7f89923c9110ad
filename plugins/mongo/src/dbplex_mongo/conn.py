"""What dbplex ops run on: a database, a transaction's session, and cached collection handles.

``Pool.connection()`` hands out the native pymongo ``Database`` (what a user of
``hub.connection()`` wants). Ops find their :class:`MongoConn` back from that object by
identity, so the hot path neither builds a ``Collection`` per call nor loses its session.
``Pool.transaction()`` hands out a :class:`MongoConn` bound to the transaction's session.
"""

from __future__ import annotations

import copy
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database

from dbplex.backends import Source
from dbplex.errors import OpError
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import options_of
from dbplex_mongo.server import ServerProbe

Doc = dict[str, Any]


class Collections(dict[str, Any]):
    """A database's collection handles by name, each built on its first lookup: the hot path
    finds a handle with one subscript in C, no Python call."""

    __slots__ = ("database",)

    def __init__(self, database: Any) -> None:
        super().__init__()
        self.database = database

    def __missing__(self, name: str) -> Any:
        collection = self[name] = self.database[name]
        return collection


class MongoConn:
    """A database for ops, optionally inside a session (``tx.conn`` of a dbplex transaction).

    Use ``database`` and ``session`` to run your own pymongo calls in the same transaction:
    ``tx.conn.database.orders.insert_one(doc, session=tx.conn.session)``.
    """

    __slots__ = ("collections", "database", "gridfs_bucket", "monitor", "server", "session")

    def __init__(
        self,
        database: Database[Doc],
        server: ServerProbe,
        monitor: PoolMonitor | None = None,
        gridfs_bucket: str = "fs",
    ) -> None:
        self.database = database
        #: the transaction's session, or None outside a transaction.
        self.session: ClientSession | None = None
        self.server = server
        #: the pool's monitor: for failures the driver's pool never sees (server selection), and
        #: for what a checkout that timed out says; None outside a dbplex pool.
        self.monitor = monitor
        #: the bucket of GridFS ops that name none (the source's ``gridfs_bucket`` option).
        self.gridfs_bucket = gridfs_bucket
        #: collection handles by name (``Collection``, or ``AsyncCollection`` under asyncio).
        self.collections = Collections(database)

    def collection(self, name: str) -> Collection[Doc]:
        """The handle of collection ``name``, built once."""
        found: Collection[Doc] = self.collections[name]
        return found

    def in_session(self, session: ClientSession) -> MongoConn:
        """This connection's twin bound to ``session`` (sharing its collection handles)."""
        twin = copy.copy(self)
        twin.session = session
        return twin

    def __repr__(self) -> str:
        return f"MongoConn(database={self.database.name!r}, session={self.session is not None})"


_attached: dict[int, MongoConn] = {}


def attach(conn: MongoConn) -> None:
    """Let ops run on ``conn.database`` itself; a pool does this for its lifetime."""
    _attached[id(conn.database)] = conn


def detach(conn: MongoConn) -> None:
    _attached.pop(id(conn.database), None)


def resolve(native: Any, source: Source) -> MongoConn:
    """The :class:`MongoConn` for what a pool or ``dbplex_connect`` handed out."""
    found = _attached.get(id(native))
    if found is not None and found.database is native:
        return found
    if type(native) is MongoConn:
        return native
    if isinstance(native, Database):
        return MongoConn(
            native, ServerProbe(native.client, source.name), gridfs_bucket=options_of(source).gridfs_bucket
        )
    raise OpError(f"mongo ops run on a pymongo Database or a dbplex MongoConn, not {type(native).__name__}")
