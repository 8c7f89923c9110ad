"""PostgreSQL migrations: the history table, steps in a transaction or in autocommit mode.

A migrator holds one session of the source's admin pool for steps, history and its lock
(autocommit at the driver level, no operation timeout; a transactional step runs inside
``conn.transaction()``), checked out on first need and given back by ``close()``. Holding
the lock on the session that runs the steps means the server frees it only once a step's
statement is over, even when the run was killed mid-statement; and on PostgreSQL 14 and later
the session asks the server to check the client every second while a statement runs
(``client_connection_check_interval``), so a killed run's statement is cancelled rather than
finished. If that session is lost, the migrator does not reconnect: the lock went with it.

The history table ``dbplex_schema_history`` lives in the connection's current schema (the first
existing schema of ``search_path``), like the objects that unqualified migration SQL creates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from dbplex.backends import Source
from dbplex.binding import Held
from dbplex.errors import DbplexError
from dbplex.migrate import HistoryRow, LockOwner, LockSettings, MigrationContext, PlanError, Prepared, Step
from dbplex.migrate.errors import LockLost
from dbplex.migrate.history import FIELDS, TABLE, decode
from dbplex.pool import Pool
from dbplex_pg.errors import query_failure
from dbplex_pg.migrate_lock import PgLock, lock_key
from dbplex_pg.sqltext import Statement, split

#: a migration waiting for a table lock blocks every query queued behind it: fail fast, retry.
DEFAULTS = {"lock_timeout": "5s", "statement_timeout": "10min"}
_DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:us|ms|s|min|h|d)?")

_CREATE_HISTORY = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    rank         integer PRIMARY KEY,
    version      text,
    description  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('versioned', 'repeatable')),
    action       text NOT NULL CHECK (action IN ('up', 'down', 'baseline', 'repair')),
    script       text NOT NULL,
    checksum     text,
    status       text NOT NULL CHECK (status IN ('running', 'success', 'failed', 'rolled_back')),
    run_id       text NOT NULL,
    installed_by text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    duration_ms  integer,
    error        text
)"""
_COLUMNS = ", ".join(FIELDS)
_SELECT_HISTORY = f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY rank"
_UPSERT_HISTORY = (
    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(FIELDS))}) "
    f"ON CONFLICT (rank) DO UPDATE SET {', '.join(f'{f} = EXCLUDED.{f}' for f in FIELDS if f != 'rank')}"
)
_INVALID_INDEX = "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)"
#: how often the server checks, while a statement runs, that a migration's client is still there.
CLIENT_CHECK = "1s"
_CLIENT_CHECK_SINCE = 140000  # PostgreSQL 14


class PgMigrator:
    """The migration backend of one PostgreSQL source."""

    formats = frozenset({"sql", "py"})
    file_options = frozenset({"transaction", "lock_timeout", "statement_timeout"})

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._session = Held(admin.connection)
        self._conn: psycopg.Connection[Any] | None = None
        self._schema: str | None = None
        self._lock: PgLock | None = None

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            if self._lock is not None and self._lock.held:
                raise LockLost(
                    f"source {self.source.name!r}: the session holding the migration lock ended; "
                    "the run stopped so that no other run applies the same migration twice"
                )
            self._session.release()  # a lost session goes back: the pool replaces it
            conn: psycopg.Connection[Any] = self._session.get()
            if conn.info.server_version >= _CLIENT_CHECK_SINCE:
                conn.execute("SELECT set_config('client_connection_check_interval', %s, false)", [CLIENT_CHECK])
            self._conn = conn
        return self._conn

    def schema(self) -> str:
        """The schema that holds the history (and that the lock key is derived from)."""
        if self._schema is None:
            row = self._run(lambda conn: conn.execute("SELECT current_schema()").fetchone())
            self._schema = (row[0] if row else None) or ""
        return self._schema

    def _run(self, action: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        conn = self.connection
        try:
            return action(conn)
        except psycopg.Error as exc:
            raise query_failure(self.source.name, conn, exc) from exc

    # -- history ----------------------------------------------------------------------------------

    def read_history(self) -> list[HistoryRow]:
        def read(conn: psycopg.Connection[Any]) -> list[HistoryRow]:
            found = conn.execute("SELECT to_regclass(%s)", [TABLE]).fetchone()
            if found is None or found[0] is None:
                return []
            with conn.cursor(row_factory=dict_row) as cur:
                return [decode(row, self.source.name) for row in cur.execute(_SELECT_HISTORY)]

        rows: list[HistoryRow] = self._run(read)
        return rows

    def ensure_history(self) -> None:
        self._run(lambda conn: conn.execute(_CREATE_HISTORY))

    def write_history(self, row: HistoryRow) -> None:
        self._run(lambda conn: conn.execute(_UPSERT_HISTORY, [getattr(row, f) for f in FIELDS]))

    def lock(self, owner: LockOwner, settings: LockSettings) -> PgLock:
        """The lock, held on :attr:`connection`: the session that runs the steps."""
        self._lock = PgLock(
            self.source, owner, lambda: lock_key(self.schema()), settings=settings, session=lambda: self.connection
        )
        return self._lock

    # -- steps ------------------------------------------------------------------------------------

    def prepare(self, step: Step) -> Prepared:
        migration = step.migration
        options = migration.options
        transactional = options.get("transaction", True)
        if not isinstance(transactional, bool):
            raise PlanError([f"{migration.path}: transaction must be true or false, not {transactional!r}"])
        settings = {
            name: _duration(migration.path, name, options.get(name, default)) for name, default in DEFAULTS.items()
        }
        body = step.body
        statements = split(body) if isinstance(body, str) else None
        prepared = Prepared(
            step=step,
            mode="transaction" if transactional else "autocommit",
            atomic=transactional,
            settings=settings,
            payload=statements,
        )
        if statements is not None:
            _check(migration.path, statements, transactional)
            prepared.commands = [f"{s.text};" for s in statements]
            prepared.notes = _notes(statements, transactional)
        if transactional:
            prepared.prologue = [
                "-- history: a `running` row is committed first",
                "BEGIN;",
                *(f"SET LOCAL {k} = '{v}';" for k, v in settings.items()),
            ]
            prepared.epilogue = [f"-- history: the row becomes `{step.done}` in this transaction", "COMMIT;"]
        else:
            prepared.prologue = [
                "-- history: a `running` row is committed first",
                *(f"SET {k} = '{v}';" for k, v in settings.items()),
            ]
            prepared.epilogue = [*(f"RESET {k};" for k in settings), f"-- history: the row becomes `{step.done}`"]
        return prepared

    def execute(self, prepared: Prepared, ctx: MigrationContext, success: Callable[[], HistoryRow]) -> None:
        conn = self.connection
        if prepared.mode == "transaction":
            with conn.transaction():
                self._settings(conn, prepared.settings, local=True)
                self._body(prepared, ctx)
                self.write_history(success())
            return
        self._settings(conn, prepared.settings, local=False)
        try:
            self._body(prepared, ctx)
        finally:
            if not (conn.closed or conn.broken):
                conn.execute(
                    sql.SQL("; ").join(sql.SQL("RESET {}").format(sql.Identifier(n)) for n in prepared.settings)
                )

    def _settings(self, conn: psycopg.Connection[Any], settings: dict[str, str], *, local: bool) -> None:
        scope = sql.SQL("SET LOCAL" if local else "SET")
        statement = sql.SQL("; ").join(
            sql.SQL("{} {} = {}").format(scope, sql.Identifier(name), sql.Literal(value))
            for name, value in settings.items()
        )
        self._run(lambda c: c.execute(statement))

    def _body(self, prepared: Prepared, ctx: MigrationContext) -> None:
        statements: list[Statement] | None = prepared.payload
        if statements is None:
            try:
                prepared.step.call(ctx)
            except psycopg.Error as exc:
                raise query_failure(self.source.name, self.connection, exc) from exc
            return
        conn = self.connection
        for statement in statements:
            try:
                if statement.concurrent_index and prepared.mode == "autocommit":
                    self._drop_invalid_index(conn, statement.concurrent_index, ctx)
                conn.execute(statement.text.encode())  # bytes: sent as written, no %-placeholders
            except psycopg.Error as exc:
                failure = query_failure(self.source.name, conn, exc)
                raise type(failure)(f"{failure} (at line {statement.line})") from exc

    @staticmethod
    def _drop_invalid_index(conn: psycopg.Connection[Any], name: str, ctx: MigrationContext) -> None:
        """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index with that name: drop it first."""
        invalid = conn.execute(_INVALID_INDEX, [name]).fetchone()
        if invalid and invalid[0]:
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}".encode())
            ctx.note(f"dropped the INVALID index {name} left by a failed attempt")

    def run_command(self, command: Any) -> Any:
        text, params = _command(command)
        cur = self._run(lambda conn: conn.execute(text.encode() if params is None else text, params))
        return cur.fetchall() if cur.description else cur.rowcount

    def render_command(self, command: Any) -> str:
        text, params = _command(command)
        if params is None:
            return f"{text.strip().rstrip(';')};"
        rendered = self._run(lambda conn: psycopg.ClientCursor(conn).mogrify(text, params))
        return f"{rendered.strip().rstrip(';')};"

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._lock is not None and self._lock.held:
            conn.close()  # the server frees the lock with the session: never pooled while held
        self._session.release()


def _command(command: Any) -> tuple[str, Any]:
    """``ctx.execute`` takes a SQL string, or a (SQL, parameters) pair."""
    if isinstance(command, str):
        return command, None
    if isinstance(command, tuple) and len(command) == 2 and isinstance(command[0], str):
        return command[0], command[1]
    raise DbplexError(f"ctx.execute on PostgreSQL takes a SQL string or (sql, params), not {type(command).__name__}")


def _duration(path: Any, name: str, value: Any) -> str:
    text = str(value).strip()
    if isinstance(value, bool) or not _DURATION.fullmatch(text):
        raise PlanError(
            [f"{path}: {name} {value!r} is not a PostgreSQL duration such as 5s, 500ms, 10min or 0 (no limit)"]
        )
    return text


def _check(path: Any, statements: list[Statement], transactional: bool) -> None:
    problems = []
    for s in statements:
        if s.controls_transaction:
            problems.append(
                f"{path}:{s.line}: {s.controls_transaction}: dbplex runs each file's transaction; remove it (`-- dbplex: transaction=false` runs statements on their own)"
            )
        elif s.needs_autocommit and transactional:
            problems.append(
                f"{path}:{s.line}: {s.needs_autocommit} cannot run inside a transaction; add `-- dbplex: transaction=false` to the file"
            )
    if problems:
        raise PlanError(problems)


def _notes(statements: list[Statement], transactional: bool) -> list[str]:
    if transactional:
        return []
    notes = [
        f"if a failed attempt left index {s.concurrent_index} INVALID, it is dropped first"
        for s in statements
        if s.concurrent_index
    ]
    if len(statements) > 1:
        notes.append("autocommit: each statement commits on its own; after a failure the earlier ones stay applied")
    return notes
