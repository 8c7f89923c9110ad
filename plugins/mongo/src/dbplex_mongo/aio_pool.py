"""The asyncio pool of a MongoDB source: one ``AsyncMongoClient`` (pymongo's own pool) and its stats.

The twin of :mod:`dbplex_mongo.pool`: pymongo pools inside its client, so this backend answers
``dbplex_async_pool`` itself, like its sync plugin answers ``dbplex_pool``. The same client
options (:func:`~dbplex_mongo.client.client_options`: sizes, wait deadline, idle reaping,
timeouts), the same statistics from pymongo's connection-pool events
(:class:`~dbplex_mongo.monitor.PoolMonitor`, whose listener ``AsyncMongoClient`` accepts as
``MongoClient`` does), the same leak reports and ``max_waiting`` bound.

Waiting checkouts (``pending``, ``max_waiting``) are told apart by task, as the sync pool tells
them apart by thread. ``max_lifetime`` and ``resize`` replace the client as in the sync pool,
with the same bookkeeping (:mod:`dbplex_mongo.rotation`): a replaced client closes, in a task on
the loop, when its last checkout ends. There is no maintenance thread: an expired client is
replaced by the next checkout.
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
from dbplex_mongo.rotation import Rotation, Tenure
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


class _AsyncClient(Tenure):
    """One ``AsyncMongoClient`` of the pool and the dbplex checkouts made on it: what
    ``connection()`` returns. The checkout is counted when the pool hands it out and ends on
    exit (no await in between, so a cancellation cannot leave it counted); pymongo checks a
    socket out per command. A class of its own, not an ``asynccontextmanager``, whose generator
    and wrapper cost several Python calls per op."""

    __slots__ = ("checking_out", "client", "conn", "database", "probe")

    def __init__(self, rotation: Rotation[_AsyncClient], pool: AsyncMongoPool) -> None:
        source, monitor = pool.source, pool.monitor
        super().__init__(rotation, monitor.listener(_task), source.config.pool)
        self.client: AsyncMongoClient[dict[str, Any]] = client_mod.open_client(
            source, self.listener, AsyncMongoClient, maxPoolSize=monitor.max_size, minPoolSize=monitor.min_size
        )
        self.database = client_mod.database_of(source, self.client)
        self.probe = AsyncServerProbe(self.client, source.name)
        self.conn = MongoConn(self.database, self.probe, monitor, options_of(source).gridfs_bucket)  # type: ignore[arg-type]
        conn_mod.attach(self.conn)
        self.checking_out = monitor.checking_out

    async def __aenter__(self) -> Any:
        return self.database

    async def __aexit__(self, kind: object, *exc: object) -> None:
        if kind is not None:  # a command cancelled in its checkout or check-in sends no end event
            task = _task()
            self.checking_out.discard(task)
            if self.listener is not None:
                self.listener.unwound(task)
        self.end()

    async def close(self) -> None:
        conn_mod.detach(self.conn)
        await self.client.close()


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
        self.rotation: Rotation[_AsyncClient] | None = None
        #: closes of replaced clients under way (a task holds no reference to itself).
        self._closing: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Build the client (pymongo connects in the background: no I/O awaited here)."""
        if self.rotation is None:
            self.rotation = Rotation(lambda rotation: _AsyncClient(rotation, self), self._close_client)

    @property
    def client(self) -> AsyncMongoClient[dict[str, Any]]:
        """The current client (what new checkouts use)."""
        return self._rotation().current.client

    def connection(self) -> _AsyncClient:
        """A checkout of the current client's ``AsyncDatabase`` (``async with``; replacing the
        client first when its lifetime is over); operations on it must happen inside the block."""
        rotation = self._rotation()
        if self.max_waiting and self.monitor.waiting() >= self.max_waiting:
            raise full_error(self.source.name, self.max_waiting, self.monitor)
        return rotation.checkout()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MongoConn]:
        """A multi-document transaction: commit when the block ends, abort if it raises."""
        checkout = self.connection()
        async with checkout:
            try:
                await checkout.probe.require_replication("MongoDB transactions")
                session = await _maybe(checkout.client.start_session())
            except DRIVER_ERRORS as exc:
                raise translate(self.source, exc, "starting a transaction", self.monitor) from exc
            async with session:
                await _maybe(session.start_transaction())
                try:
                    yield checkout.conn.in_session(session)
                except BaseException:
                    await session.abort_transaction()
                    raise
                try:
                    await session.commit_transaction()
                except DRIVER_ERRORS as exc:
                    raise translate(self.source, exc, "committing a transaction", self.monitor) from exc

    def resize(self, min_size: int, max_size: int) -> None:
        """pymongo's sizes are fixed per client: a new client takes over, the old one closes after its last checkout."""
        self.monitor.min_size, self.monitor.max_size = min_size, max_size
        self._rotation().renew()

    def _close_client(self, client: _AsyncClient) -> None:
        """Close a replaced client in a task on the running loop (``aclose`` waits for it)."""
        task = asyncio.get_running_loop().create_task(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _rotation(self) -> Rotation[_AsyncClient]:
        if self.rotation is None:
            raise self._unopened()
        return self.rotation

    def _unopened(self) -> RuntimeError:
        return RuntimeError(f"source {self.source.name!r}: the asyncio pool was used before open()")

    def stats(self) -> PoolStats:
        return self.monitor.stats(self.source.name, BACKEND)

    async def aclose(self) -> None:
        rotation, self.rotation = self.rotation, None
        clients = rotation.take_all() if rotation is not None else []
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.gather(*self._closing)

    def __repr__(self) -> str:
        return f"AsyncMongoPool(source={self.source.name!r})"
