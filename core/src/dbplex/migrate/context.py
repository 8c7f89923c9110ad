"""``ctx``: what a Python migration's ``up(ctx)`` and ``down(ctx)`` receive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dbplex.migrate.errors import DryRunUnsupported
from dbplex.migrate.model import Migration

if TYPE_CHECKING:
    from dbplex.hub import Hub
    from dbplex.migrate.backend import Migrator


class MigrationContext:
    """The migration's source, its native connection, and every other source.

    Write through :meth:`execute` (a SQL string, a MongoDB command document, a Redis command
    tuple) or the backend's helpers, and a dry run shows the exact commands. Code that uses
    :attr:`conn` or another source directly runs only for real: in a dry run those raise
    :class:`~dbplex.migrate.errors.DryRunUnsupported` and the plan says the step runs Python.
    """

    def __init__(
        self,
        migration: Migration,
        migrator: Migrator,
        hub: Hub,
        *,
        dry_run: bool = False,
        on_note: Callable[[str], None] | None = None,
        lock_check: Callable[[], None] | None = None,
    ) -> None:
        self.migration = migration
        #: the name of the source this migration belongs to.
        self.source = migration.source
        #: True while planning: nothing may change.
        self.dry_run = dry_run
        #: the backend adapter (its helpers use it).
        self.migrator = migrator
        #: in a dry run: every command that would be sent, rendered, and the notes between them.
        self.commands: list[str] = []
        self._hub = hub
        self._on_note = on_note
        self._lock_check = lock_check

    def _refuse(self, what: str) -> DryRunUnsupported:
        return DryRunUnsupported(f"{self.migration.path}: uses {what}, so its commands are known only when it runs")

    @property
    def conn(self) -> Any:
        """The source's native connection (psycopg Connection in the step's transaction,
        pymongo Database, redis-py client)."""
        if self.dry_run:
            raise self._refuse("ctx.conn")
        return self.migrator.connection

    @property
    def reader(self) -> Any:
        """The native connection for reads, also in a dry run: never write through it."""
        return self.migrator.connection

    @property
    def hub(self) -> Hub:
        """Every configured source, for data migrations that read one database and write another."""
        if self.dry_run:
            raise self._refuse("ctx.hub")
        return self._hub

    @contextmanager
    def connection(self, source: str) -> Iterator[Any]:
        """A pooled native connection of another source (``hub.connection(source)``)."""
        if self.dry_run:
            raise self._refuse(f"ctx.connection({source!r})")
        with self._hub.connection(source) as conn:
            yield conn

    def execute(self, command: Any) -> Any:
        """Send one backend command on this source; in a dry run only record it."""
        if self.dry_run:
            self.commands.append(self.migrator.render_command(command))
            return None
        return self.migrator.run_command(command)

    def check(self) -> None:
        """Raise :class:`~dbplex.migrate.errors.LockLost` if this run lost a lock: long data
        migrations call it between batches, so that they stop before another run takes over."""
        if self._lock_check is not None:
            self._lock_check()

    def note(self, text: str) -> None:
        """A remark for the plan, or for the progress of a run (helpers report counts this way)."""
        if self.dry_run:
            self.commands.append(f"-- {text}")
        elif self._on_note is not None:
            self._on_note(text)
