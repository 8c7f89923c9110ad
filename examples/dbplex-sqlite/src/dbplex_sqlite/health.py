"""The health check: one query through the pool proves the file opens and reads."""

from __future__ import annotations

import sqlite3

from dbplex import Health, Pool, Source, Status

from dbplex_sqlite import errors
from dbplex_sqlite.connect import database_path


def check(source: Source, pool: Pool) -> Health:
    """UP with SQLite's version (the library linked into Python), the file and its journal mode."""
    path = database_path(source)
    with pool.connection() as conn:
        try:
            version = conn.execute("SELECT sqlite_version()").fetchone()[0]
            journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        except sqlite3.Error as exc:
            raise errors.unavailable(source, path, exc) from None
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.UP,
        server_version=version,
        pool=pool.stats(),
        details={"path": path, "journal_mode": journal_mode},
    )
