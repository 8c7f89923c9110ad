"""What a backend provides for the change feed: the :class:`ChangeFeed` its ``dbplex_watch`` hook returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

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
        (and the install step), :class:`~dbplex.errors.UnsupportedError` when the server cannot
        give a feed at all (and what it needs).
        """

    def read(self, tables: Sequence[str], after: str, wait: float) -> list[Change]:
        """The changes of ``tables`` after position ``after``, oldest first; waits up to ``wait``
        seconds for the first one and returns ``[]`` when none came."""

    def close(self) -> None:
        """Give back what the feed holds (a listening session); the pools stay the hub's."""
