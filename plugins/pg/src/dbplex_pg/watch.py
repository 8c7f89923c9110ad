"""PostgreSQL's :class:`~dbplex.changes.ChangeFeed`: triggers write a change log, NOTIFY wakes the reader.

``install(table)`` creates (once per schema) the ``dbplex_changes`` table and the trigger function
``dbplex_capture()``, and (once per table) an AFTER INSERT/UPDATE/DELETE row trigger. Each change
row records the writing transaction's id (``tx``), so the reader can tell which rows are final:
every transaction older than the oldest one still running (``pg_snapshot_xmin``) has ended, so
the rows with ``tx`` below that horizon never change again. A position is ``LO-HI-ID``: every
row with ``tx < LO`` was delivered, and of those with ``LO <= tx < HI`` the ones with ``id <= ID``.
Ids alone would not do: a transaction that took id 5 may commit after one that took id 6.

Triggers rather than logical decoding: they work on any server (logical decoding needs
``wal_level = logical`` and a replication slot that holds WAL back while no one reads), and they
see writes from anywhere, raw SQL included. They cost a row in ``dbplex_changes`` per change, in
the writing transaction; the table grows until ``prune(tables, before)`` (``dbplex watch --prune
--before POSITION``) deletes what every reader has passed. Each prune's position is kept per table
in ``dbplex_changes_pruned``, and ``start`` refuses an ``after`` that does not cover it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from psycopg import sql

from dbplex.backends import Source
from dbplex.changes import Change
from dbplex.changes.feed import not_recorded, pruned
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex.steps import Steps, drive
from dbplex_pg.connection import options
from dbplex_pg.translate import TABLE_CREATION_LOCK, decode_record, table_sql

CHANNEL = "dbplex_changes"
LISTEN = sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL))
#: rows read per query: a long backlog comes in batches.
BATCH = 1000

_LOG = """
CREATE TABLE IF NOT EXISTS {log} (
    id bigserial PRIMARY KEY,
    tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
    table_name text NOT NULL,
    key text NOT NULL,
    op text NOT NULL,
    data jsonb,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dbplex_changes_tx ON {log} (tx);
CREATE OR REPLACE FUNCTION {capture}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    row jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
BEGIN
    INSERT INTO {log} (table_name, key, op, data) VALUES (
        TG_TABLE_NAME, row ->> TG_ARGV[0], lower(TG_OP),
        CASE WHEN TG_OP = 'DELETE' THEN NULL WHEN TG_ARGV[1] = '' THEN row ELSE row -> TG_ARGV[1] END);
    PERFORM pg_notify('dbplex_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$body$;
"""
_MARKS = "CREATE TABLE IF NOT EXISTS {marks} (table_name text PRIMARY KEY, position text NOT NULL)"
_INSTALLED = (
    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE t.tgname = 'dbplex_capture' AND n.nspname = %s AND c.relname = ANY(%s)"
)
#: the oldest transaction still running: every one before it has ended.
_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
#: a statement and its parameters, as :class:`ChangeSteps` ask them.
Request = tuple[Any, list[Any]]
_TRIGGER = """
CREATE OR REPLACE TRIGGER dbplex_capture AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION {capture}({key}, {data})
"""


class ChangeSteps:
    """Starting and reading the change log as steps (statements out, rows in), without I/O: what
    both the sync feed and :class:`dbplex_pg.aio_watch.AsyncPgChangeFeed` run."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.schema = options(source).schema
        self.log = sql.Identifier(self.schema, "dbplex_changes")
        self.marks = sql.Identifier(self.schema, "dbplex_changes_pruned")

    def starting(self, tables: Sequence[str], after: str | None) -> Steps[Request, str]:
        """The position to read from (``ChangeFeed.start``): the tables' triggers checked, then
        ``after`` or the current horizon."""
        rows = yield (_INSTALLED, [self.schema, list(tables)])
        installed = {r[0] for r in rows}
        missing = [t for t in tables if t not in installed]
        if missing:
            raise not_recorded(self.source.name, missing)
        if after is not None:
            resume = _parse(after)
            if (yield ("SELECT to_regclass(%s) IS NOT NULL", [self.marks.as_string()]))[0][0]:
                query = sql.SQL("SELECT table_name, position FROM {marks} WHERE table_name = ANY(%s)")
                for table, mark in (yield (query.format(marks=self.marks), [list(tables)])):
                    if not _covers(resume, _parse(mark)):
                        raise pruned(self.source.name, table, after, mark)
            return after
        horizon = (yield (_HORIZON, []))[0][0]
        return f"{horizon}-{horizon}-0"

    def reading(self, tables: Sequence[str], after: str) -> Steps[Request, list[Change]]:
        """The changes after ``after`` as steps (statements out, rows in), without waiting."""
        lo, hi, last = _parse(after)
        query = sql.SQL(
            "SELECT id, table_name, key, op, data::text FROM {log} "
            "WHERE tx >= %s::text::xid8 AND tx < %s::text::xid8 AND id > %s AND table_name = ANY(%s) ORDER BY id LIMIT %s"
        ).format(log=self.log)
        rows = yield (query, [str(lo), str(hi), last, list(tables), BATCH])
        while not rows:  # this range is done: the next one ends at the current horizon
            horizon = int((yield (_HORIZON, []))[0][0])
            if horizon <= hi:
                return []
            # a range with nothing in it moves on without a change to carry the position
            lo, hi = hi, horizon
            rows = yield (query, [str(lo), str(hi), 0, list(tables), BATCH])
        return [
            Change(
                source=self.source.name,
                table=table,
                key=key,
                op=op,
                values={} if data is None else decode_record(data.encode()),
                position=f"{lo}-{hi}-{id_}",
            )
            for id_, table, key, op, data in rows
        ]


class PgChangeFeed:
    """Reads the change log through ``pool``; waits for NOTIFY on one session of ``admin``."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.admin = admin
        self.steps = ChangeSteps(source)
        self.schema = self.steps.schema
        self._log = self.steps.log
        self._marks = self.steps.marks
        self._listening: ExitStack | None = None
        self._listener: Any = None

    # -- install --------------------------------------------------------------------------------

    def install(self, table: str) -> None:
        with self.pool.transaction() as conn:
            conn.execute(TABLE_CREATION_LOCK)
            names = self._columns(conn, table)
            if not names:  # a table of the record ops not written yet: create it as the first Put would
                conn.execute(table_sql(self.schema, table, conn).create)
                names = ["key", "data"]
            key, data = self._record_shape(conn, table, names)
            conn.execute(sql.SQL(_LOG).format(log=self._log, capture=sql.Identifier(self.schema, "dbplex_capture")))
            conn.execute(sql.SQL(_MARKS).format(marks=self._marks))
            conn.execute(
                sql.SQL(_TRIGGER).format(
                    table=sql.Identifier(self.schema, table),
                    capture=sql.Identifier(self.schema, "dbplex_capture"),
                    key=sql.Literal(key),
                    data=sql.Literal(data),
                )
            )

    def _columns(self, conn: Any, table: str) -> list[str]:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            [sql.Identifier(self.schema, table).as_string(conn)],
        ).fetchall()
        return [r[0] for r in rows]

    def _record_shape(self, conn: Any, table: str, names: list[str]) -> tuple[str, str]:
        """(key column, values column or '' for the whole row): a table of the record ops keeps
        its values in ``data``; any other table needs a one-column primary key."""
        if sorted(names) == ["data", "key"]:
            return "key", "data"
        keys = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
            [sql.Identifier(self.schema, table).as_string(conn)],
        ).fetchall()
        if len(keys) != 1:
            raise ConfigError(
                f"source {self.source.name!r}: table {table!r} has no one-column primary key, "
                "which the change feed needs as each change's key"
            )
        return keys[0][0], ""

    def prune(self, tables: Sequence[str], before: str) -> int:
        mark = _parse(before)
        lo, hi, last = mark
        with self.pool.transaction() as conn:
            conn.execute(sql.SQL(_MARKS).format(marks=self._marks))
            query = sql.SQL("SELECT table_name, position FROM {marks} WHERE table_name = ANY(%s) FOR UPDATE")
            for table, earlier in conn.execute(query.format(marks=self._marks), [list(tables)]).fetchall():
                if not _covers(mark, _parse(earlier)):
                    raise ConfigError(
                        f"source {self.source.name!r}: {table!r} was pruned up to {earlier} already, "
                        f"which position {before} does not pass"
                    )
            deleted = conn.execute(
                sql.SQL(
                    "DELETE FROM {log} WHERE table_name = ANY(%s) "
                    "AND (tx < %s::text::xid8 OR (tx < %s::text::xid8 AND id <= %s))"
                ).format(log=self._log),
                [list(tables), str(lo), str(hi), last],
            ).rowcount
            upsert = sql.SQL(
                "INSERT INTO {marks} (table_name, position) VALUES (%s, %s) "
                "ON CONFLICT (table_name) DO UPDATE SET position = EXCLUDED.position"
            ).format(marks=self._marks)
            for table in tables:
                conn.execute(upsert, [table, before])
        return int(deleted)

    # -- reading --------------------------------------------------------------------------------

    def start(self, tables: Sequence[str], after: str | None) -> str:
        with self.pool.connection() as conn:
            return drive(self.steps.starting(tables, after), lambda request: conn.execute(*request).fetchall())

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        found = self._read(tables, after)
        if found:
            return found
        self._wait(wait)
        return self._read(tables, after)

    def _read(self, tables: Sequence[str], after: str) -> list[Change]:
        with self.pool.connection() as conn:
            return drive(self.steps.reading(tables, after), lambda request: conn.execute(*request).fetchall())

    def _wait(self, wait: float) -> None:
        """Until a NOTIFY on the channel or ``wait`` seconds, on the listening session."""
        if self._listener is None:
            stack = ExitStack()
            self._listener = stack.enter_context(self.admin.connection())
            self._listening = stack
            self._listener.execute(LISTEN)
        for _ in self._listener.notifies(timeout=wait, stop_after=1):
            pass

    def close(self) -> None:
        if self._listening is not None:
            try:
                self._listener.execute("UNLISTEN *")
            finally:
                self._listening.close()
                self._listening = None
                self._listener = None


def _covers(position: tuple[int, int, int], mark: tuple[int, int, int]) -> bool:
    """Whether every change at or before ``mark`` is at or before ``position`` too (both ``LO-HI-ID``):
    all of mark's are in transactions ended before position's range, or its range and ids reach as far."""
    return position[0] >= mark[1] or all(p >= m for p, m in zip(position, mark, strict=True))


def _parse(position: str) -> tuple[int, int, int]:
    try:
        lo, hi, last = (int(part) for part in position.split("-"))
    except ValueError:
        raise ConfigError(f"position {position!r} is not a PostgreSQL change position (LO-HI-ID)") from None
    return lo, hi, last
