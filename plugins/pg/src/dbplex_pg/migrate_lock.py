"""The PostgreSQL migration lock: a session-level advisory lock on a dedicated session.

``pg_try_advisory_lock`` is polled by the core with a bounded wait, never ``pg_advisory_lock``:
a blocking wait could deadlock with ``CREATE INDEX CONCURRENTLY``, which waits for every other
transaction. The key is derived from the schema that holds the history, so two applications
in separate schemas of one database do not block each other. The server frees the lock when
the session ends, so a killed process cannot leave it behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg

from dbplex.backends import Source
from dbplex.migrate import LockOwner, LockSettings
from dbplex.migrate.history import TABLE
from dbplex_pg.connection import open_connection

_HOLDER = """
SELECT a.application_name, a.pid, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s AND l.objid = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def lock_key(schema: str) -> int:
    """A signed 64-bit advisory lock key for the history table in ``schema``."""
    digest = hashlib.sha256(f"dbplex:{schema}.{TABLE}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgLock:
    """One source's advisory lock, held by a session of its own."""

    def __init__(self, source: Source, owner: LockOwner, settings: LockSettings, schema: Callable[[], str]) -> None:
        self.source = source.name
        self._source = source
        self._owner = owner
        self._settings = settings
        self._schema = schema
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def key(self) -> int:
        return lock_key(self._schema())

    def describe(self) -> str:
        return (
            f"SELECT pg_try_advisory_lock({self.key}) on a dedicated session, polled every ~{self._settings.poll:g} s "
            f"for up to {self._settings.wait:g} s (never a blocking wait); freed when that session ends"
        )

    def _session(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            conn = open_connection(self._source, psycopg.Connection)
            name = f"dbplex migrate {self._owner.describe()}"[:63]
            conn.execute("SELECT set_config('application_name', %s, false)", [name])
            self._conn = conn
        return self._conn

    def try_acquire(self) -> bool:
        row = self._session().execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        return bool(row and row[0])

    def holder(self) -> str | None:
        unsigned = self.key & 0xFFFF_FFFF_FFFF_FFFF
        try:
            row = self._session().execute(_HOLDER, [unsigned >> 32, unsigned & 0xFFFF_FFFF]).fetchone()
        except psycopg.Error:
            return None
        if row is None:
            return None
        application, pid, client, since = row
        return f"{application or 'a session'} (server pid {pid}, client {client or 'local'}, connected {since:%Y-%m-%d %H:%M:%S %Z})"

    def extend(self) -> bool:
        """The lock lives as long as its session: check that the session still answers."""
        if self._conn is None or self._conn.closed:
            return False
        self._conn.execute("SELECT 1")
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not (conn.closed or conn.broken):
                conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
        finally:
            conn.close()
