"""What a backend provides for the change feed: the :class:`ChangeFeed` its ``dbplex_watch`` hook returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

from dbplex.errors import ChangesPruned, ConfigError

Op = Literal["insert", "update", "delete"]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One change of one record, as the source recorded it.

    ``values`` are the record's values after the change (empty for a delete); ``position`` is
    opaque text to store and pass back as ``after=`` to resume right after this change.
    """

    source: str
    table: str
    key: str
    op: Op
    values: dict[str, Any]
    position: str


class ChangeFeed(Protocol):
    """One source's change feed; its connections come from the hub's pools (no I/O when made)."""

    def install(self, table: str) -> None:
        """Start recording the changes of ``table`` (idempotent): PostgreSQL triggers, a Redis stream."""

    def start(self, tables: Sequence[str], after: str | None) -> str:
        """The position to read from: ``after`` when given, else the newest one now.

        Raises :class:`~dbplex.errors.ConfigError` naming a table whose changes are not recorded
        (and the install step), :class:`~dbplex.errors.ChangesPruned` when :meth:`prune` removed
        changes after ``after``, :class:`~dbplex.errors.UnsupportedError` when the server cannot
        give a feed at all (and what it needs).
        """

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        """The changes of ``tables`` after position ``after``, oldest first; waits up to ``wait``
        seconds for the first one and returns ``[]`` when none came."""

    def prune(self, tables: Sequence[str], before: str) -> int:
        """Delete the recorded changes of ``tables`` up to and including position ``before`` (what
        a reader that stored it has handled); returns how many went.

        The feed remembers ``before`` per table: :meth:`start` then refuses an ``after`` older than
        it with :class:`~dbplex.errors.ChangesPruned`, since resuming there would skip changes
        silently. Raises :class:`~dbplex.errors.ConfigError` for a position that is not the
        backend's or is older than an earlier prune, :class:`~dbplex.errors.UnsupportedError`
        when the backend keeps no log of its own to prune (MongoDB's is the server's oplog).
        """

    def close(self) -> None:
        """Give back what the feed holds (a listening session); the pools stay the hub's."""


class AsyncChangeFeed(Protocol):
    """What a plugin's ``dbplex_async_watch(source)`` hook returns: one source's change feed under
    asyncio (``async for change in async_hub.watch(...)``).

    The answers of :meth:`ChangeFeed.start` and :meth:`ChangeFeed.read`, awaited, on a connection
    the async hub lends each call (``conn``: what ``AsyncPool.connection()`` yields) and takes back
    after it, so that a cancelled consumer leaves none in use. Recording (``install``) stays on
    the sync hub and ``dbplex watch --install``.
    """

    async def start(self, conn: Any, tables: Sequence[str], after: str | None) -> str:
        """As :meth:`ChangeFeed.start`, with the same errors."""
        ...

    async def read(self, conn: Any, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        """As :meth:`ChangeFeed.read`: waits on ``conn`` up to ``wait`` seconds for the first change."""
        ...


def not_recorded(source: str, missing: Sequence[str]) -> ConfigError:
    """The error of :meth:`ChangeFeed.start` for tables whose changes are not recorded, naming the install step."""
    return ConfigError(
        f"source {source!r}: the changes of {', '.join(map(repr, missing))} are not recorded; "
        f"run `dbplex watch --install {source}.{missing[0]}` first"
    )


def pruned(source: str, table: str, after: str, mark: str) -> ChangesPruned:
    """The error of :meth:`ChangeFeed.start` for an ``after`` that a prune (up to ``mark``) passed."""
    return ChangesPruned(
        f"source {source!r}: the changes of {table!r} up to {mark} were pruned, so resuming after {after} "
        "would skip some; copy the table again (`dbplex sync`), then watch from now (no --after)"
    )
