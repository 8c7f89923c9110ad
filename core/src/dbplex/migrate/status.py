"""What ``status`` shows for each migration: its state from files and history together."""

from __future__ import annotations

from typing import Any

from dbplex.migrate.history import HistoryRow, Ledger
from dbplex.migrate.model import Migration
from dbplex.migrate.naming import version_id
from dbplex.migrate.planner import pending_reason
from dbplex.migrate.reports import MigrationState, SourceState


def source_state(source: str, backend: str, files: list[Migration], ledger: Ledger) -> SourceState:
    """Every file of ``source`` with its state, then applied versions whose file is missing."""
    rows = [_state(m, ledger) for m in files]
    known = {m.id for m in files}
    rows += [
        _missing(source, id, entry.row)
        for id, entry in ledger.entries().items()
        if id not in known and entry.row is not None and entry.applied
    ]
    baseline = version_id(".".join(map(str, ledger.baseline))) if ledger.baseline else None
    return SourceState(source=source, backend=backend, migrations=rows, baseline=baseline)


def _state(migration: Migration, ledger: Ledger) -> MigrationState:
    entry = ledger.entry(migration.id, migration.version_key)
    row = entry.row if entry is not None else None
    if entry is None:
        state = "pending"
    elif migration.kind == "repeatable" and entry.applied:
        state = "outdated" if pending_reason(migration, ledger) else "applied"
    elif entry.applied and entry.checksum is not None and entry.checksum != migration.checksum:
        state = "changed"
    elif entry.reverting:
        state = "revert_failed" if entry.state == "failed" else "reverting"
    elif entry.applied:
        state = "baselined" if entry.state == "baselined" else "applied"
    else:
        state = entry.state
    return MigrationState(
        ref=str(migration.ref),
        kind=migration.kind,
        description=migration.description,
        state=state,
        file=str(migration.path),
        version=migration.version,
        **_row_fields(row),
    )


def _missing(source: str, id: str, row: HistoryRow) -> MigrationState:
    return MigrationState(
        ref=f"{source}:{id}",
        kind=row.kind,
        description=row.description,
        state="missing",
        version=row.version,
        **_row_fields(row),
    )


def _row_fields(row: HistoryRow | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "installed_at": row.finished_at or row.started_at,
        "installed_by": row.installed_by,
        "duration_ms": row.duration_ms,
        "error": row.error,
    }
