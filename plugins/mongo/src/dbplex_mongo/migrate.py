"""MongoDB migrations: the history collection and Python steps.

MongoDB runs each command on its own (multi-document transactions need a replica set and
cannot create collections or indexes before 4.4), so every step runs in autocommit mode: the
core writes a ``running`` row first and the final row when the step returns. A migrator works
through the source's admin pool (``SOURCE/admin``), whose client has no operation timeout: an
index build takes as long as it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import json_util
from pymongo.database import Database

from dbplex.backends import Source
from dbplex.binding import Held
from dbplex.errors import DbplexError
from dbplex.migrate import HistoryRow, LockOwner, LockSettings, MigrationContext, Prepared, Step
from dbplex.migrate.history import TABLE, decode
from dbplex.pool import Pool
from dbplex_mongo import errors
from dbplex_mongo.migrate_lock import MongoLease

Doc = dict[str, Any]
_SHELL_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)


class MongoMigrator:
    """The migration backend of one MongoDB source."""

    formats = frozenset({"py"})
    file_options: frozenset[str] = frozenset()

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._admin = admin
        #: one checkout of the admin pool for the migrator's life (its steps use ``ctx.conn``
        #: whenever they like), ended by :meth:`close`.
        self._session = Held(admin.connection)

    @property
    def connection(self) -> Database[Doc]:
        """The database of the admin pool's checkout this migrator holds until it is closed."""
        database: Database[Doc] = self._session.get()
        return database

    def _run(self, doing: str, action: Callable[[Database[Doc]], Any]) -> Any:
        try:
            return action(self.connection)
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self.source, exc, doing) from exc

    # -- history ----------------------------------------------------------------------------------

    def read_history(self) -> list[HistoryRow]:
        def read(db: Database[Doc]) -> list[HistoryRow]:
            return [
                decode({"rank": doc.pop("_id"), **doc}, self.source.name) for doc in db[TABLE].find().sort("_id", 1)
            ]

        rows: list[HistoryRow] = self._run(f"reading {TABLE}", read)
        return rows

    def ensure_history(self) -> None:
        """Nothing to do: the collection is created by its first write."""

    def write_history(self, row: HistoryRow) -> None:
        document = {"_id": row.rank, **{name: getattr(row, name) for name in row.__struct_fields__ if name != "rank"}}
        self._run(f"writing {TABLE}", lambda db: db[TABLE].replace_one({"_id": row.rank}, document, upsert=True))

    def lock(self, owner: LockOwner, settings: LockSettings) -> MongoLease:
        return MongoLease(self.source, self._admin, owner, settings)

    # -- steps ------------------------------------------------------------------------------------

    def prepare(self, step: Step) -> Prepared:
        return Prepared(
            step=step,
            mode="autocommit",
            prologue=["// history: a `running` row is written first"],
            epilogue=[f"// history: the row becomes `{step.done}` when the step returns"],
            notes=["each command applies on its own: write steps that can run again (the schema helpers do)"],
        )

    def execute(self, prepared: Prepared, ctx: MigrationContext, success: Callable[[], HistoryRow]) -> None:
        try:
            prepared.step.call(ctx)
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self.source, exc, f"running {prepared.step.migration.name}") from exc

    def run_command(self, command: Any) -> Any:
        document = _command(command)
        return self._run(f"running {next(iter(document))}", lambda db: db.command(document))

    def render_command(self, command: Any) -> str:
        return f"db.runCommand({json_util.dumps(_command(command), json_options=_SHELL_JSON)})"

    def close(self) -> None:
        """End the admin pool checkout (the pools themselves are the hub's)."""
        self._session.release()


def _command(command: Any) -> Doc:
    if not isinstance(command, dict) or not command:
        raise DbplexError(
            f"ctx.execute on MongoDB takes a command document such as {{'collMod': ...}}, not {command!r}"
        )
    return command
