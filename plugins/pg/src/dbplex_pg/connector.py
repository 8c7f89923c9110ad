"""How dbplex's pool opens, checks, resets and closes PostgreSQL connections: psycopg's public API only.

The pool itself (bounds, waiting, lifetimes, keepalive, reconnect backoff, leaks, fork) is
dbplex's :class:`~dbplex.pooling.ConnectorPool`. What only PostgreSQL knows is here:

- an idle connection is *usable* unless it is closed or has something to read: an idle
  connection has nothing to read unless the server said goodbye (a FATAL message before
  closing it, e.g. ``idle_session_timeout`` or a restart) or sent a notification; telling
  those apart would cost a read, so such a connection is replaced either way. The check is one
  ``poll`` call, well under 1% of a round trip;
- *reset* ends a transaction the user left open (commit, or roll back after an error) and turns
  autocommit back on, which record ops rely on;
- *classify*: a closed or broken connection is discarded; a write refused as read-only
  (SQLSTATE 25006) by a server that turns out to be in recovery drains the pool, so that new
  connections find the new primary after a failover (with a multi-host URL and
  ``target_session_attrs=read-write``). A read-only transaction of the user's own also raises
  25006; asking the server tells the two apart.

The connector also runs the sweep of :mod:`dbplex_pg.deadline` (ops past their deadline) on a
maintenance thread of its own, started with the first connection.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from dbplex.backends import Source
from dbplex.pooling import fork
from dbplex.pooling.connector import Disposition
from dbplex.pooling.housekeeper import Housekeeper
from dbplex_pg import deadline
from dbplex_pg.connection import PgConnection, connection_class, open_connection
from dbplex_pg.errors import query_failure

_IDLE = TransactionStatus.IDLE
_INERROR = TransactionStatus.INERROR


def quiet(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Open, not broken, and nothing to read (see the module docstring): one ``poll``, no round trip."""
    if conn.closed or conn.broken:
        return False
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


#: SQLSTATE of a write refused as read-only: by a server in recovery, or in a read-only transaction.
READ_ONLY = "25006"
#: the question that tells those two apart.
IN_RECOVERY = "SELECT pg_is_in_recovery()"


def driver_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind ``exc`` (itself or its cause), if any."""
    error = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    return error if isinstance(error, psycopg.Error) else None


def classify(
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], exc: BaseException, in_recovery: Callable[[], bool]
) -> Disposition:
    """What ``exc`` means for the pool, from the error and the connection's state, sync and asyncio
    alike; ``in_recovery`` is asked only about a read-only refusal (25006), which the error alone
    cannot tell from a read-only transaction: the sync connector asks the server then, the async
    one answers what its executor asked before the connection came back."""
    if conn.closed or conn.broken:
        return Disposition.DISCARD
    error = driver_error(exc)
    if error is None:
        return Disposition.KEEP
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return Disposition.DISCARD  # a client-side connection failure: the session is in doubt
    if error.sqlstate == READ_ONLY and in_recovery():
        return Disposition.DRAIN
    return Disposition.KEEP


class PgConnector:
    """The :class:`~dbplex.pooling.Connector` of one PostgreSQL source (the ``dbplex_connect`` hook)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.connection_type = connection_class(source, PgConnection)
        self._lock = threading.Lock()
        self._sweeper: Housekeeper | None = None
        fork.register(self)

    def open(self) -> PgConnection:
        """A new autocommit connection whose statements are bounded by the operation timeout."""
        conn = open_connection(self.source, self.connection_type)
        if self._sweeper is None:
            with self._lock:
                if self._sweeper is None:
                    self._sweeper = Housekeeper(self.source.name, deadline.sweep_interval(self.source), self._sweep)
        return conn

    def _sweep(self) -> None:
        deadline.sweep(self.connection_type.state)

    def usable(self, conn: PgConnection) -> bool:
        return quiet(conn)

    def ping(self, conn: PgConnection) -> None:
        conn.execute("")

    def reset(self, conn: PgConnection, failed: bool) -> bool:
        if conn.closed or conn.broken:
            return False
        try:
            status = conn.info.transaction_status
            if status is not _IDLE:
                if failed or status is _INERROR:
                    conn.rollback()
                else:
                    conn.commit()
            if not conn.autocommit:
                conn.autocommit = True
        except psycopg.Error:
            return False
        return True

    def close(self, conn: PgConnection) -> None:
        conn.close()

    def classify(self, conn: PgConnection, exc: BaseException) -> Disposition:
        return classify(conn, exc, partial(self._in_recovery, conn))

    def _in_recovery(self, conn: PgConnection) -> bool:
        try:
            if conn.info.transaction_status is not _IDLE:
                conn.rollback()
            row = conn.execute(IN_RECOVERY).fetchone()
        except psycopg.Error:
            return False
        return bool(row and row[0])

    @contextmanager
    def transaction(self, conn: PgConnection) -> Iterator[PgConnection]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises; a failed BEGIN or COMMIT names the source."""
        in_block = False
        try:
            with conn.transaction():
                in_block = True
                yield conn
                in_block = False
        except psycopg.Error as exc:
            if in_block:  # raised by the caller's own use of the connection: theirs to see
                raise
            raise query_failure(self.source.name, conn, exc) from exc

    def after_fork(self) -> None:
        """In a forked child the sweeper thread is gone: the next connection starts one."""
        self._lock = threading.Lock()
        self._sweeper = None

    def __repr__(self) -> str:
        return f"PgConnector(source={self.source.name!r})"
