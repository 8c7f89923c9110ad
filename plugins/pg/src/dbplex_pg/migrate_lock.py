"""PostgreSQL's maintenance locks: a session-level advisory lock held by one session.

Migrations lock per history schema, partition maintenance per partitioned table; both use
:class:`PgLock` with their own key. Partition maintenance holds it on an admin session of its own;
migrations hold it on the very session that runs their steps, because the server frees the
lock only when that session ends: a run killed mid-statement keeps it until the server has
finished (or cancelled) that statement, so no second run can start the step meanwhile. (On a
session of its own the lock was freed at once while the statement ran on, and ran twice.)
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
from dbplex.binding import Held
from dbplex.migrate import LockOwner, LockSettings
from dbplex.migrate.history import TABLE
from dbplex.pool import Pool

_HOLDER = """
SELECT a.application_name, a.pid, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s AND l.objid = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (e.g. ``schema.table``)."""
    digest = hashlib.sha256(f"dbplex:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_key(schema: str) -> int:
    """The migration lock's key: the history table in ``schema``."""
    return advisory_key(f"{schema}.{TABLE}")


class PgLock:
    """One advisory lock, held by one session.

    ``key`` is called when first needed (it may need a query, e.g. the current schema);
    ``purpose`` names the holder in ``pg_stat_activity`` (``dbplex migrate ...``). With
    ``session``, the lock is held on that connection (checked out and given back by its owner);
    otherwise on a session of ``pool`` (the source's admin pool) held until :meth:`release`.
    """

    def __init__(
        self,
        source: Source,
        owner: LockOwner,
        key: Callable[[], int],
        *,
        purpose: str = "migrate",
        settings: LockSettings | None = None,
        session: Callable[[], psycopg.Connection[Any]] | None = None,
        pool: Pool | None = None,
    ) -> None:
        if (session is None) == (pool is None):
            raise ValueError("PgLock takes a session or a pool, one of the two")
        self.source = source.name
        self._source = source
        self._owner = owner
        self._settings = settings
        self._key = key
        self._purpose = purpose
        self._shared = session
        self._own = Held(pool.connection) if pool is not None else None
        self._conn: psycopg.Connection[Any] | None = None
        #: True from a successful ``try_acquire`` until ``release``.
        self.held = False

    @property
    def key(self) -> int:
        return self._key()

    def describe(self) -> str:
        polled = "polled"
        if self._settings is not None:
            polled = f"polled every ~{self._settings.poll:g} s for up to {self._settings.wait:g} s"
        return (
            f"SELECT pg_try_advisory_lock({self.key}) on {'the session that runs the steps' if self._shared else 'an admin session of its own'}, "
            f"{polled} (never a blocking wait); freed when that session ends"
        )

    def _session(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            conn = self._shared() if self._shared is not None else self._checkout()
            name = f"dbplex {self._purpose} {self._owner.describe()}"[:63]
            conn.execute("SELECT set_config('application_name', %s, false)", [name])
            self._conn = conn
        return self._conn

    def _checkout(self) -> psycopg.Connection[Any]:
        assert self._own is not None
        conn: psycopg.Connection[Any] = self._own.get()
        return conn

    def try_acquire(self) -> bool:
        row = self._session().execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
        self.held = bool(row and row[0])
        return self.held

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
        """The lock lives as long as its session: check that the session is still open.

        A shared session may be running a long step: a query would wait behind it (and hold up
        the heartbeat of other sources' leases), so only the driver's view is consulted; a
        session that ended fails the step's next statement anyway.
        """
        if self._conn is None or self._conn.closed:
            return False
        if self._shared is None:
            self._conn.execute("SELECT 1")
        return True

    def release(self) -> None:
        conn, self._conn, self.held = self._conn, None, False
        unlocked = conn is None  # nothing was locked on a session never set up
        try:
            if conn is not None and not (conn.closed or conn.broken):
                conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
                unlocked = True
        finally:
            if self._own is not None:
                if not unlocked and conn is not None:
                    conn.close()  # never back to the pool while the lock may still be held
                self._own.release()
