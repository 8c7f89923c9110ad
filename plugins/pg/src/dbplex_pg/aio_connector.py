"""How dbplex's asyncio pool opens, checks, resets and closes PostgreSQL connections: psycopg's
``AsyncConnection``, public API only.

The twin of :mod:`dbplex_pg.connector`, with the same connection arguments (autocommit, the
operation timeout as ``statement_timeout``, ``application_name``), the same idle check (one
``poll``) and the same classification. A write refused as read-only (25006) drains the pool when
the server is in recovery, as in sync mode; but ``classify`` makes no I/O under asyncio, so the
question is asked before the connection goes back: by :func:`learn_role`, which the executor
awaits when an op fails that way (and :meth:`AsyncPgConnector.transaction`, once the
transaction is rolled back), and whose answer ``classify`` reads.

The client-side deadline of an op (a server that stops answering) is
:func:`dbplex_pg.deadline.begin_on_loop`, whose sweep runs on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.pq import TransactionStatus

from dbplex.backends import Source
from dbplex.pooling.connector import Disposition
from dbplex_pg import errors
from dbplex_pg.connection import AsyncPgConnection, connect_kwargs, connect_timeout, connection_class
from dbplex_pg.connector import IN_RECOVERY, READ_ONLY, classify, driver_error, quiet
from dbplex_pg.errors import query_failure

_IDLE = TransactionStatus.IDLE
_INERROR = TransactionStatus.INERROR


async def learn_role(conn: AsyncPgConnection, exc: BaseException) -> None:
    """After a write refused as read-only (25006) on an idle connection, ask the server whether it
    is in recovery (a failover) and keep the answer on the connection for ``classify``."""
    error = driver_error(exc)
    if error is None or error.sqlstate != READ_ONLY or conn.info.transaction_status is not _IDLE:
        return
    try:
        row = await (await conn.execute(IN_RECOVERY)).fetchone()
    except psycopg.Error:
        return  # the classification sees the connection broken, or keeps it
    conn.in_recovery = bool(row and row[0])


class AsyncPgConnector:
    """The :class:`~dbplex.pooling.connector.AsyncConnector` of one PostgreSQL source (``dbplex_async_connect``)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.connection_type = connection_class(source, AsyncPgConnection)
        self.kwargs = connect_kwargs(source)

    async def open(self) -> AsyncPgConnection:
        try:
            return await self.connection_type.connect(self.source.url, **self.kwargs)
        except psycopg.Error as exc:
            raise errors.unavailable(self.source, exc, connect_timeout(self.source)) from None

    def usable(self, conn: AsyncPgConnection) -> bool:
        return quiet(conn)

    async def ping(self, conn: AsyncPgConnection) -> None:
        await conn.execute("")

    async def reset(self, conn: AsyncPgConnection, failed: bool) -> bool:
        if conn.closed or conn.broken:
            return False
        try:
            status = conn.info.transaction_status
            if status is not _IDLE:
                if failed or status is _INERROR:
                    await conn.rollback()
                else:
                    await conn.commit()
            if not conn.autocommit:
                await conn.set_autocommit(True)
        except psycopg.Error:
            return False
        return True

    async def close(self, conn: AsyncPgConnection) -> None:
        await conn.close()

    def classify(self, conn: AsyncPgConnection, exc: BaseException) -> Disposition:
        return classify(conn, exc, lambda: conn.in_recovery)

    @asynccontextmanager
    async def transaction(self, conn: AsyncPgConnection) -> AsyncIterator[AsyncPgConnection]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; a failed BEGIN or COMMIT names the source."""
        in_block = False
        try:
            async with conn.transaction():
                in_block = True
                yield conn
                in_block = False
        except psycopg.Error as exc:
            if in_block:  # raised by the caller's own use of the connection: theirs to see
                await learn_role(conn, exc)
                raise
            raise query_failure(self.source.name, conn, exc) from exc  # type: ignore[arg-type]
        except Exception as exc:  # an op's error, rolled back by now
            await learn_role(conn, exc)
            raise

    def __repr__(self) -> str:
        return f"AsyncPgConnector(source={self.source.name!r})"
