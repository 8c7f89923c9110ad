"""PostgreSQL's server-side slow log: ``pg_stat_statements``, slowest mean time first.

The view needs the library in ``shared_preload_libraries`` (a server restart) and the extension
in the database. When the library is loaded and the extension is not, the slow log creates it
(``CREATE EXTENSION IF NOT EXISTS pg_stat_statements``: a view and functions, no data of the
user's touched) if the role may; otherwise, and when the library is not loaded, it says what to
do (:class:`~dbplex.slowlog.SlowLogUnavailable`). The statements are already normalised by the
server (constants become ``$1``, ``$2``...); while redacting, literals the server left in (utility
statements) are hidden too, and always in a statement that may carry a password
(``ALTER ROLE ... PASSWORD '...'``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dbplex.backends import Source
from dbplex.pool import Pool
from dbplex.slowlog import SlowEntry, SlowLogUnavailable, redact
from dbplex_pg.errors import query_failure

#: marks the slow log's own statements (inside them: the server keeps a statement's text from its
#: first keyword on), which it leaves out of what it lists.
_MARK = "/* dbplex slowlog */"

#: the extension's schema (NULL when not created) and the server's version.
_STATE = f"""
SELECT {_MARK} (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements'),
       current_setting('server_version_num')::int
"""

#: shown to superusers and ``pg_read_all_settings`` only.
_PRELOADED = f"SELECT {_MARK} current_setting('shared_preload_libraries')"

#: the slowest statements of the current database; the slow log's own and the view's readers left out.
_TOP = f"""
SELECT {_MARK} s.query, s.calls, s.{{total}}, s.{{mean}}, s.{{max}}, s.rows
  FROM {{view}} s JOIN pg_database d ON d.oid = s.dbid
 WHERE d.datname = current_database() AND s.query NOT LIKE '%%pg_stat_statements%%'
   AND s.query NOT LIKE '%%{_MARK}%%'
 ORDER BY s.{{mean}} DESC
 LIMIT %s
"""


def _loaded(libraries: str) -> bool:
    return "pg_stat_statements" in (name.strip().strip('"') for name in libraries.split(","))


class PgSlowLog:
    """``pg_stat_statements`` of one source's database, read through its admin pool."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self._source = source
        self._admin = admin

    def entries(self, limit: int, redact: bool) -> list[SlowEntry]:
        name = self._source.name
        with self._admin.connection() as conn:
            try:
                schema, version = conn.execute(_STATE).fetchone()
                if schema is None:
                    schema = self._create(conn)
                # PostgreSQL 13 split planning from execution time and renamed the columns
                columns = (
                    {"total": "total_exec_time", "mean": "mean_exec_time", "max": "max_exec_time"}
                    if version >= 130000
                    else {"total": "total_time", "mean": "mean_time", "max": "max_time"}
                )
                # the extension's own schema: it need not be on the search path
                view = sql.Identifier(schema, "pg_stat_statements").as_string(conn)
                rows = conn.execute(_TOP.format(view=view, **columns), (limit,)).fetchall()
            except psycopg.errors.ObjectNotInPrerequisiteState:  # created, but the library is not loaded
                raise self._not_loaded() from None
            except psycopg.Error as exc:
                raise query_failure(name, conn, exc) from exc
        return [self._entry(row, redact) for row in rows]

    def _not_loaded(self) -> SlowLogUnavailable:
        return SlowLogUnavailable(
            f"source {self._source.name!r}: pg_stat_statements is not loaded: add it to shared_preload_libraries, "
            "restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements"
        )

    def _create(self, conn: psycopg.Connection[Any]) -> str:
        """Create the extension in this database, when the library is loaded, and return its
        schema; a role that may not (or may not tell whether it is loaded) is told who can."""
        try:
            [(preloaded,)] = conn.execute(_PRELOADED).fetchall()  # one row, always
            loaded = _loaded(preloaded)
        except psycopg.errors.InsufficientPrivilege:
            raise SlowLogUnavailable(
                f"source {self._source.name!r}: pg_stat_statements is not installed in database "
                f"{conn.info.dbname!r}: once it is in shared_preload_libraries, have an owner run "
                "CREATE EXTENSION pg_stat_statements"
            ) from None
        if not loaded:
            raise self._not_loaded()
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            [(schema, _)] = conn.execute(_STATE).fetchall()  # one row, always
            return str(schema)
        except psycopg.errors.InsufficientPrivilege:
            raise SlowLogUnavailable(
                f"source {self._source.name!r}: pg_stat_statements is loaded but not installed in database "
                f"{conn.info.dbname!r}, and this role may not create it: have an owner run "
                "CREATE EXTENSION pg_stat_statements"
            ) from None

    def _entry(self, row: tuple[Any, ...], redacting: bool) -> SlowEntry:
        text, calls, total, mean, longest, rows = row
        text = " ".join(str(text).split())
        return SlowEntry(
            source=self._source.name,
            origin="pg_stat_statements",
            operation=redact.sql(text) if redacting or redact.sensitive(text) else text,
            duration_ms=round(float(mean), 3),
            calls=int(calls),
            details={"total_ms": round(float(total), 3), "max_ms": round(float(longest), 3), "rows": int(rows)},
        )
