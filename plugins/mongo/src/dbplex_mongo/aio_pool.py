"""The asyncio pool of a MongoDB source: one ``AsyncMongoClient`` (pymongo's own pool) and its stats.

The twin of :mod:`dbplex_mongo.pool`: pymongo pools inside its client, so this backend answers
``dbplex_async_pool`` itself, like its sync plugin answers ``dbplex_pool``. The same client
options (:func:`~dbplex_mongo.client.client_options`: sizes, wait deadline, idle reaping,
timeouts), the same statistics from pymongo's connection-pool events
(:class:`~dbplex_mongo.monitor.PoolMonitor`, whose listener ``AsyncMongoClient`` accepts as
``MongoClient`` does), the same leak reports and ``max_waiting`` bound.

Waiting checkouts (``pending``, ``max_waiting``) are told apart by task, as the sync pool tells
them apart by thread. Not here yet: the lifetime of a client (``max_lifetime``: the sync pool
replaces its client) and ``resize``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient

from dbplex.backends import Source
from dbplex.pool import PoolStats
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error
from dbplex_mongo import client as client_mod
from dbplex_mongo import conn as conn_mod
from dbplex_mongo.conn import MongoConn
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.monitor import PoolMonitor
from dbplex_mongo.options import options_of
from dbplex_mongo.pool import BACKEND, statistics_needed
from dbplex_mongo.server import ServerInfo, address_of, require_replication, server_info


class AsyncServerProbe:
    """:class:`~dbplex_mongo.server.ServerProbe` for an ``AsyncMongoClient``: asks once, answers from that."""

    def __init__(self, client: Any, source: str) -> None:
        self._client = client
        self._source = source
        self._info: ServerInfo | None = None

    async def refresh(self) -> ServerInfo:
        admin = self._client.admin
        hello = await admin.command("hello")
        build_info = await admin.command("buildInfo")
        self._info = server_info(hello, build_info, address_of(self._client))
        return self._info

    async def require_replication(self, feature: str) -> None:
        require_replication(self._info or await self.refresh(), self._source, feature)


async def _maybe(value: Any) -> Any:
    """``value``, awaited when it is awaitable (pymongo made some session methods coroutines in 4.x)."""
    return await value if inspect.isawaitable(value) else value


def _task() -> int:
    """Who is checking out under asyncio: the running task (the loop's thread when there is none)."""
    return id(asyncio.current_task())


class _Checkout:
    """What ``connection()`` returns: the client's database, nothing to undo on exit (pymongo
    checks a socket out per command). A class of its own, not an ``asynccontextmanager``, whose
    generator and wrapper cost several Python calls per op."""

    __slots__ = ("database",)

    def __init__(self, database: Any) -> None:
        self.database = database

    async def __aenter__(self) -> Any:
        return self.database

    async def __aexit__(self, *exc: object) -> None:
        return None


class AsyncMongoPool:
    """A source's ``AsyncMongoClient``. ``connection()`` yields its ``AsyncDatabase``;
    ``transaction()`` yields a :class:`~dbplex_mongo.conn.MongoConn` bound to a session."""

    def __init__(self, source: Source) -> None:
        self.source = source
        config = source.config.pool
        statistics = options_of(source).pool_statistics
        if not statistics and (config.leak_threshold or config.max_waiting):
            raise statistics_needed(source)
        self.monitor = PoolMonitor(config.min_size, config.max_size, source, statistics)
        if config.leak_threshold:
            self.monitor.leak_detector = LeakDetector(source.name, config.leak_threshold, self.monitor)
        self.max_waiting = config.max_waiting
        self.client: AsyncMongoClient[dict[str, Any]] | None = None
        self.conn: MongoConn | None = None
        self.probe: AsyncServerProbe | None = None
        self._checkout: _Checkout | None = None

    async def open(self) -> None:
        """Build the client (pymongo connects in the background: no I/O awaited here)."""
        if self.client is not None:
            return
        listener = self.monitor.listener(_task)
        client = client_mod.open_client(self.source, listener, AsyncMongoClient)
        database = client_mod.database_of(self.source, client)
        self.probe = AsyncServerProbe(client, self.source.name)
        self.conn = MongoConn(database, self.probe, self.monitor, options_of(self.source).gridfs_bucket)  # type: ignore[arg-type]
        conn_mod.attach(self.conn)
        self._checkout = _Checkout(database)
        self.client = client

    def connection(self) -> _Checkout:
        """The client's ``AsyncDatabase`` (``async with``); operations on it must happen inside the block."""
        checkout = self._checkout
        if checkout is None:
            raise self._unopened()
        if self.max_waiting and self.monitor.waiting() >= self.max_waiting:
            raise full_error(self.source.name, self.max_waiting, self.monitor)
        return checkout

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MongoConn]:
        """A multi-document transaction: commit when the block ends, abort if it raises."""
        conn = self._conn()
        assert self.probe is not None and self.client is not None
        try:
            await self.probe.require_replication("MongoDB transactions")
            session = await _maybe(self.client.start_session())
        except DRIVER_ERRORS as exc:
            raise translate(self.source, exc, "starting a transaction", self.monitor) from exc
        async with session:
            await _maybe(session.start_transaction())
            try:
                yield conn.in_session(session)  # type: ignore[arg-type]
            except BaseException:
                await session.abort_transaction()
                raise
            try:
                await session.commit_transaction()
            except DRIVER_ERRORS as exc:
                raise translate(self.source, exc, "committing a transaction", self.monitor) from exc

    def _conn(self) -> MongoConn:
        if self.conn is None:
            raise self._unopened()
        return self.conn

    def _unopened(self) -> RuntimeError:
        return RuntimeError(f"source {self.source.name!r}: the asyncio pool was used before open()")

    def stats(self) -> PoolStats:
        return self.monitor.stats(self.source.name, BACKEND)

    async def aclose(self) -> None:
        client, self.client = self.client, None
        self._checkout = None
        if self.conn is not None:
            conn_mod.detach(self.conn)
        if client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"AsyncMongoPool(source={self.source.name!r})"
