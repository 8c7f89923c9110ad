"""Opening one sqlite3 connection for a source: the file from its URL, pragmas, schema."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from dbplex import ConfigError, Source

from dbplex_sqlite import errors, translate
from dbplex_sqlite.options import SqliteOptions


def database_path(source: Source) -> str:
    """The file named by ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

    As in SQLAlchemy, the path is everything after ``sqlite:///``; a relative one is relative
    to the working directory.
    """
    parts = urlsplit(source.url)
    path = parts.path[1:]  # the first "/" closes the empty host part
    if path == ":memory:":
        raise ConfigError(
            f"source {source.name!r}: in-memory SQLite databases are private to one connection, so a pool "
            "cannot share one; use a file, e.g. sqlite:////tmp/app.db"
        )
    if parts.netloc or parts.query or parts.fragment or not path:
        raise ConfigError(
            f"source {source.name!r}: {source.redacted_url!r} is not a SQLite file URL; use "
            f"sqlite:///relative/path.db or sqlite:////absolute/path.db, and put settings in "
            f"[sources.{source.name}.options]"
        )
    return path


def connect(source: Source) -> sqlite3.Connection:
    """Open (creating if needed) the source's database file, ready for dbplex's statements.

    The connection is in autocommit mode (``isolation_level=None``): each statement commits on
    its own, and ``Pool.transaction()`` issues BEGIN and COMMIT itself. It may move between
    threads, one at a time, as pooled connections do.
    """
    path = database_path(source)
    options: SqliteOptions = source.options
    try:
        # `timeout` bounds the lock waits of opening; busy_timeout takes over afterwards.
        conn = sqlite3.connect(
            path, timeout=source.config.connect_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise errors.unavailable(source, path, exc) from None
    try:
        conn.execute(f"PRAGMA journal_mode = {options.journal_mode}")  # also proves it is a database
        conn.execute(translate.CREATE_RECORDS)
        conn.execute(f"PRAGMA busy_timeout = {round(options.busy_timeout * 1000)}")
        conn.create_function(translate.MERGE_FUNCTION, 2, translate.merge, deterministic=True)
    except sqlite3.Error as exc:
        conn.close()
        raise errors.unavailable(source, path, exc) from None
    return conn
