"""Do the files still match what the history says was applied?

Checked before every ``up``: an applied file whose checksum changed, an applied version whose
file is gone, and two heads (a version that is not applied although a later one is, as when
two branches each added a migration and the later one went out first).
"""

from __future__ import annotations

from collections.abc import Mapping

from dbplex.migrate.history import Ledger
from dbplex.migrate.model import Migration


def drift(source: str, migrations: list[Migration], ledger: Ledger) -> list[str]:
    """Applied versioned files that changed, and applied versions without a file."""
    problems = []
    by_id = {m.id: m for m in migrations}
    for migration in migrations:
        if migration.kind != "versioned":
            continue
        entry = ledger.entry(migration.id, migration.version_key)
        if entry is None or not entry.applied or entry.checksum is None or entry.checksum == migration.checksum:
            continue
        problems.append(
            f"{migration.path} changed after it was applied (checksum {entry.checksum[:12]}… in the history, "
            f"{migration.checksum[:12]}… now): restore the file, or record the change with "
            f"`dbplex migrate repair --accept-checksum {migration.ref}`"
        )
    for id, entry in ledger.entries().items():
        row = entry.row
        if entry.applied and id not in by_id and row is not None and row.kind == "versioned":
            problems.append(f"source {source!r}: {row.script} ({id}) is applied but its file is missing")
    return problems


def two_heads(migrations: list[Migration], ledger: Ledger) -> list[str]:
    """Pending versions below the highest applied one, each named with the later applied file."""
    applied = [m for m in migrations if m.kind == "versioned" and ledger.applied(m.id, m.version_key)]
    if not applied:
        return []
    head = max(applied, key=lambda m: m.version_key)
    return [
        f"two heads: {m.path} is not applied, but the later {head.path} already is; "
        f"give it a version above {head.id} (the two were probably added on separate branches)"
        for m in migrations
        if m.kind == "versioned" and m.version_key < head.version_key and not ledger.applied(m.id, m.version_key)
    ]


def validate(
    migrations: Mapping[str, list[Migration]], ledgers: Mapping[str, Ledger], sources: list[str], *, heads: bool = True
) -> list[str]:
    """Every history problem of ``sources`` (two heads only with ``heads``: a revert may be how
    they get resolved)."""
    problems: list[str] = []
    for source in sources:
        files, ledger = migrations.get(source, []), ledgers[source]
        problems += drift(source, files, ledger) + (two_heads(files, ledger) if heads else [])
    return problems
