"""How sqlite3's exceptions become dbplex errors that name the source."""

from __future__ import annotations

import sqlite3

from dbplex import QueryError, Source, SourceUnavailable
from dbplex.secrets import scrub


def unavailable(source: Source, path: str, exc: sqlite3.Error) -> SourceUnavailable:
    """The database file could not be opened or is not a SQLite database."""
    return SourceUnavailable(f"source {source.name!r}: cannot open SQLite database {path!r}: {scrub(str(exc))}")


def query_error(source: Source, exc: sqlite3.Error) -> QueryError:
    """SQLite rejected a statement; a lock wait that ran out says which setting bounds it."""
    message = f"source {source.name!r}: {scrub(str(exc))}"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        message += f" (another connection held the write lock for longer than options.busy_timeout = {source.options.busy_timeout}s)"
    return QueryError(message)
