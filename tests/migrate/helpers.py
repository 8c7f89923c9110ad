"""Building migration folders and histories for the engine's tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dbplex.migrate.discovery import Discovered, discover
from dbplex.migrate.history import HistoryRow, Ledger
from dbplex.migrate.loading import Rules

PG_RULES = Rules(frozenset({"sql", "py"}), frozenset({"transaction", "lock_timeout", "statement_timeout"}))
PY_RULES = Rules(frozenset({"py"}), frozenset())

PY_REVERSIBLE = "def up(ctx):\n    pass\n\n\ndef down(ctx):\n    pass\n"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{"pg/V0001__x.sql": text}`` under ``root``; returns ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def read(root: Path, rules: dict[str, Rules] | None = None) -> Discovered:
    return discover(root, rules or {"pg": PG_RULES, "docs": PY_RULES, "cache": PY_RULES})


def row(
    rank: int,
    version: str | None,
    *,
    description: str = "x",
    action: str = "up",
    status: str = "success",
    checksum: str | None = "c",
) -> HistoryRow:
    return HistoryRow(
        rank=rank,
        version=version,
        description=description,
        kind="versioned" if version is not None else "repeatable",
        action=action,  # type: ignore[arg-type]
        script=f"V{version}__{description}.sql" if version else f"R__{description}.sql",
        checksum=checksum,
        status=status,  # type: ignore[arg-type]
        run_id="run",
        installed_by="tester@host",
        started_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    )


def ledger(*rows: HistoryRow) -> Ledger:
    return Ledger(list(rows))
