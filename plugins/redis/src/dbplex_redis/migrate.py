"""Redis migrations: the history hash and Python steps.

History rows are JSON values in the hash ``<prefix>dbplex_schema_history``, one field per rank.
Redis runs each command on its own, so every step runs in autocommit mode: the core writes a
``running`` row first and the final row when the step returns. Commands sent through
``ctx.execute`` go as written (the source's prefix applies to dbplex's own keys only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.binding import Held
from dbplex.errors import DbplexError
from dbplex.migrate import HistoryRow, LockOwner, LockSettings, MigrationContext, Prepared, Step
from dbplex.migrate.history import TABLE, decode
from dbplex.pool import Pool
from dbplex_redis.errors import translate
from dbplex_redis.migrate_lock import RedisLock

_PLAIN = re.compile(r"[A-Za-z0-9_:.{}*@/+\-]+")


_ERRORS = (redis.exceptions.RedisError,)


class RedisMigrator:
    """The migration backend of one Redis source."""

    formats = frozenset({"py"})
    file_options: frozenset[str] = frozenset()

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._admin = admin
        prefix = source.options.prefix
        self.history_key = f"{prefix}{TABLE}"
        self.lock_key = f"{prefix}dbplex_schema_lock"
        #: one connection of the admin pool, held from first need until :meth:`close` (``ctx.conn``).
        self._session = Held(admin.connection)

    @property
    def connection(self) -> redis.Redis:
        client: redis.Redis = self._session.get()
        return client

    def _run(self, doing: str, action: Callable[[redis.Redis], Any]) -> Any:
        client = self.connection
        try:
            return action(client)
        except _ERRORS as exc:
            raise translate(self.source, client, exc, doing) from exc

    # -- history ----------------------------------------------------------------------------------

    def read_history(self) -> list[HistoryRow]:
        stored = self._run(f"reading {self.history_key}", lambda client: client.hgetall(self.history_key))
        return sorted(
            (decode(msgspec.json.decode(value), self.source.name) for value in stored.values()),
            key=lambda row: row.rank,
        )

    def ensure_history(self) -> None:
        """Nothing to do: the hash is created by its first write."""

    def write_history(self, row: HistoryRow) -> None:
        self._run(
            f"writing {self.history_key}",
            lambda client: client.hset(self.history_key, str(row.rank), msgspec.json.encode(row)),
        )

    def lock(self, owner: LockOwner, settings: LockSettings) -> RedisLock:
        return RedisLock(self.source, self.lock_key, owner, settings, self._admin.connection)

    # -- steps ------------------------------------------------------------------------------------

    def prepare(self, step: Step) -> Prepared:
        return Prepared(
            step=step,
            mode="autocommit",
            prologue=[f"# history: HSET {self.history_key} <rank> <row>: a `running` row first"],
            epilogue=[f"# history: the row becomes `{step.done}` when the step returns"],
            notes=["each command applies on its own: write steps that can run again"],
        )

    def execute(self, prepared: Prepared, ctx: MigrationContext, success: Callable[[], HistoryRow]) -> None:
        try:
            prepared.step.call(ctx)
        except _ERRORS as exc:
            raise translate(self.source, self.connection, exc, f"running {prepared.step.migration.name}") from exc

    def run_command(self, command: Any) -> Any:
        args = _command(command)
        return self._run(f"running {args[0]}", lambda client: client.execute_command(*args))  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def render_command(self, command: Any) -> str:
        return " ".join(_quote(arg) for arg in _command(command))

    def close(self) -> None:
        self._session.release()


def _command(command: Any) -> tuple[Any, ...]:
    if not isinstance(command, (tuple, list)) or not command or not isinstance(command[0], str):
        raise DbplexError(f"ctx.execute on Redis takes a command tuple such as ('SET', key, value), not {command!r}")
    return tuple(command)


def _quote(arg: Any) -> str:
    """An argument as redis-cli reads it: bare when it can be, else a double-quoted string."""
    text = arg.decode("utf-8", "backslashreplace") if isinstance(arg, bytes) else str(arg)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)
