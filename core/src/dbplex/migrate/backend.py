"""What a backend plugin provides for migrations: a :class:`Migrator` per source.

A plugin's ``dbplex_migrate(source)`` hook returns one. The core does the rest: it finds and
checks files, plans, takes locks in order, validates, writes history rows and reports. The
migrator only knows its database: where history lives, how its lock works, how a step runs
(and in which transaction mode), and how to show a command in a dry run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dbplex.migrate.history import HistoryRow
from dbplex.migrate.locking import Lock, LockOwner, LockSettings
from dbplex.migrate.model import Step

if TYPE_CHECKING:
    from dbplex.migrate.context import MigrationContext

#: "transaction": all of the step and its history row commit together, or nothing does.
#: "autocommit": each command commits on its own; a ``running`` row is written first.
Mode = Literal["transaction", "autocommit"]


@dataclass
class Prepared:
    """A step as its backend will run it: mode, settings and the exact commands."""

    step: Step
    mode: Mode
    #: True when ``execute`` commits the success row in the step's own transaction.
    atomic: bool = False
    #: settings the step runs with, for the plan (e.g. ``lock_timeout``: ``"5s"``).
    settings: dict[str, str] = field(default_factory=dict)
    #: what will be sent, rendered (SQL statements); Python steps get theirs from a dry run.
    commands: list[str] = field(default_factory=list)
    #: what is sent before and after the commands (``BEGIN``, ``SET LOCAL ...``, ``COMMIT``).
    prologue: list[str] = field(default_factory=list)
    epilogue: list[str] = field(default_factory=list)
    #: what else happens (e.g. an INVALID index left by a failed attempt is dropped first).
    notes: list[str] = field(default_factory=list)
    #: backend-private data for ``execute`` (e.g. parsed statements).
    payload: Any = None


class Migrator(Protocol):
    """One source's migration backend, returned by the plugin's ``dbplex_migrate`` hook.

    Connections are opened on first need and closed by :meth:`close`.
    """

    #: file formats it runs, e.g. ``{"sql", "py"}``.
    formats: frozenset[str]
    #: per-file options it understands besides ``depends_on`` and ``irreversible``.
    file_options: frozenset[str]

    def lock(self, owner: LockOwner, settings: LockSettings) -> Lock:
        """This source's migration lock (not yet taken)."""
        ...

    def read_history(self) -> list[HistoryRow]:
        """Every history row; an empty list when the history store does not exist yet."""
        ...

    def ensure_history(self) -> None:
        """Create the history store if missing (called with the lock held)."""
        ...

    def write_history(self, row: HistoryRow) -> None:
        """Insert or replace the row with ``row.rank``."""
        ...

    def prepare(self, step: Step) -> Prepared:
        """Decide how ``step`` runs, without I/O. Refuse what cannot work with a
        :class:`~dbplex.migrate.errors.PlanError` naming the file (e.g. ``CREATE INDEX
        CONCURRENTLY`` inside a transaction)."""
        ...

    def execute(self, prepared: Prepared, ctx: MigrationContext, success: Callable[[], HistoryRow]) -> None:
        """Run the step. When ``prepared.atomic``, write ``success()`` inside the step's
        transaction; otherwise the core writes it after this returns. Raise on failure."""
        ...

    @property
    def connection(self) -> Any:
        """The native connection steps run on (``ctx.conn`` of a Python migration)."""
        ...

    def run_command(self, command: Any) -> Any:
        """Send one backend command (``ctx.execute``) on :attr:`connection` and return the reply."""
        ...

    def render_command(self, command: Any) -> str:
        """``command`` as the exact text a dry run prints."""
        ...

    def close(self) -> None:
        """Close every connection it opened."""
        ...
