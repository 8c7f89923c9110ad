"""The history every backend keeps in ``dbplex_schema_history``, and what it says is applied.

History is append-only: each attempt to apply, revert, baseline or repair is one row with a
``rank`` (its position, assigned under the migration lock). A row starts ``running`` and ends
``success``, ``failed`` or ``rolled_back``; the state of a migration is what its latest row
says. A PostgreSQL table, a MongoDB collection and a Redis hash all store this same Struct.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import msgspec

from dbplex.migrate.errors import MigrationError
from dbplex.migrate.naming import VersionKey, parse_version, repeatable_id, version_id

TABLE = "dbplex_schema_history"

Status = Literal["running", "success", "failed", "rolled_back"]
#: up: applied; down: reverted; baseline: versions up to this one count as applied; repair: checksum accepted.
Action = Literal["up", "down", "baseline", "repair"]


class HistoryRow(msgspec.Struct, kw_only=True):
    """One attempt, in the same shape in every backend."""

    rank: int
    version: str | None
    description: str
    kind: Literal["versioned", "repeatable"]
    action: Action
    script: str
    checksum: str | None
    status: Status
    run_id: str
    installed_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    duration_ms: int | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return version_id(self.version) if self.version is not None else repeatable_id(self.description)


#: the columns / fields in order, for backends that store rows as tables.
FIELDS: tuple[str, ...] = HistoryRow.__struct_fields__


def now() -> dt.datetime:
    """UTC now at millisecond precision (what every backend can store exactly)."""
    moment = dt.datetime.now(dt.timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def decode(data: dict[str, object], source: str) -> HistoryRow:
    """A row from a backend's builtin representation (JSON strings, BSON dates, SQL values)."""
    try:
        row = msgspec.convert(data, HistoryRow, strict=False)
    except msgspec.ValidationError as exc:
        where = str(exc).replace("`$.", "`")
        raise MigrationError(
            f"source {source!r}: {TABLE} holds a row that is not a history row ({where}): {data!r}"
        ) from None
    # backends without time zones (BSON dates come back naive) store UTC
    for name in ("started_at", "finished_at"):
        value = getattr(row, name)
        if value is not None and value.tzinfo is None:
            setattr(row, name, value.replace(tzinfo=dt.timezone.utc))
    return row


@dataclass(frozen=True)
class Entry:
    """What the history says about one migration id."""

    #: "applied", "baselined", "failed", "running", "rolled_back"
    state: str
    #: the checksum the applied files must still have (None when baselined or not applied).
    checksum: str | None
    #: the latest row about this id (None when only a baseline covers it).
    row: HistoryRow | None

    @property
    def applied(self) -> bool:
        return self.state in ("applied", "baselined") or (self.state in ("failed", "running") and self.reverting)

    @property
    def reverting(self) -> bool:
        """The latest attempt was a revert that did not finish: the migration is still applied."""
        return self.row is not None and self.row.action == "down" and self.row.status in ("failed", "running")


class Ledger:
    """The state of every migration of one source, derived from its history rows."""

    def __init__(self, rows: list[HistoryRow]) -> None:
        self.rows = sorted(rows, key=lambda r: r.rank)
        self.baseline: VersionKey | None = None
        #: rank of the latest successful revert of a versioned migration (0: none).
        self.last_revert = max(
            (r.rank for r in self.rows if r.action == "down" and r.status == "rolled_back"), default=0
        )
        self._entries: dict[str, Entry] = {}
        applied_checksum: dict[str, str | None] = {}
        for row in self.rows:
            if row.action == "baseline" and row.status == "success" and row.version is not None:
                self.baseline = parse_version(row.version)
                continue
            if row.action == "repair":
                if row.status == "success" and row.id in applied_checksum:
                    applied_checksum[row.id] = row.checksum
                    previous = self._entries[row.id]
                    self._entries[row.id] = Entry(previous.state, row.checksum, previous.row)
                continue
            previous_checksum = applied_checksum.get(row.id)
            if row.action == "up" and row.status == "success":
                applied_checksum[row.id] = row.checksum
                self._entries[row.id] = Entry("applied", row.checksum, row)
            elif row.action == "down" and row.status == "rolled_back":
                applied_checksum.pop(row.id, None)
                self._entries[row.id] = Entry("rolled_back", None, row)
            else:
                self._entries[row.id] = Entry(row.status, previous_checksum, row)

    def entry(self, id: str, version: VersionKey | None = None) -> Entry | None:
        """What the history says about ``id``; versions up to a baseline count as applied."""
        found = self._entries.get(id)
        if found is not None:
            return found
        if version is not None and self.baseline is not None and version <= self.baseline:
            return Entry("baselined", None, None)
        return None

    def applied(self, id: str, version: VersionKey | None = None) -> bool:
        found = self.entry(id, version)
        return found is not None and found.applied

    def entries(self) -> dict[str, Entry]:
        """Every id the history mentions, with its state."""
        return dict(self._entries)

    @property
    def running(self) -> list[HistoryRow]:
        """Rows still ``running``: a run in progress, or one that stopped without finishing."""
        return [r for r in self.rows if r.status == "running"]

    @property
    def next_rank(self) -> int:
        return self.rows[-1].rank + 1 if self.rows else 1

    @property
    def has_applied(self) -> bool:
        return self.baseline is not None or any(e.applied for e in self._entries.values())
