"""What dbplex's pool needs to know about sqlite3 connections: the backend's ``dbplex_connect``.

dbplex pools the connections itself (bounds, waiting, lifetimes, idle reaping, keepalive,
reconnect pacing, leak reports, fork safety, stats); a backend says only how to open, check,
reset and close one, and what an error means for it. This is all of that for SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from dbplex import Source
from dbplex.pooling import Disposition

from dbplex_sqlite import errors
from dbplex_sqlite.connect import connect


class SqliteConnector:
    """Satisfies :class:`dbplex.pooling.Connector` for one SQLite source."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def open(self) -> sqlite3.Connection:
        return connect(self.source)

    def usable(self, conn: sqlite3.Connection) -> bool:
        """A file has no server to drop the connection: only a broken one fails, at reset."""
        return True

    def ping(self, conn: sqlite3.Connection) -> None:
        conn.execute("SELECT 1")

    def reset(self, conn: sqlite3.Connection, failed: bool) -> bool:
        """Roll back what a borrower left open; False when the connection no longer works."""
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            return False
        return True

    def close(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def classify(self, conn: sqlite3.Connection, exc: BaseException) -> Disposition:
        """SQLite's errors are about statements, not the connection (a closed one fails ``reset``)."""
        return Disposition.KEEP

    @contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front: a transaction that read first and
        upgraded later could fail with "database is locked" midway, however long it waited."""
        self._run(conn, "BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        self._run(conn, "COMMIT")

    def _run(self, conn: sqlite3.Connection, sql: str) -> None:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise errors.query_error(self.source, exc) from None
