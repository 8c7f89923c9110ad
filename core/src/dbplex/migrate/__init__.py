"""Migrations for every backend: versioned and repeatable files, one history format, locks.

Files live in ``<dir>/<source>/`` (``V<version>__<description>.<sql|py>``, ``R__<description>.<sql|py>``);
see ``docs/migrations.md``. The engine here is backend-neutral; each backend plugin provides
a :class:`Migrator` through its ``dbplex_migrate`` hook.
"""

from __future__ import annotations

from dbplex.migrate.api import Migrations, default_directory
from dbplex.migrate.backend import Migrator, Mode, Prepared
from dbplex.migrate.context import MigrationContext
from dbplex.migrate.errors import (
    DryRunUnsupported,
    LockLost,
    LockTimeout,
    MigrationError,
    MigrationFailed,
    PlanError,
    ValidationError,
)
from dbplex.migrate.history import TABLE, HistoryRow
from dbplex.migrate.locking import Lock, LockOwner, LockSettings
from dbplex.migrate.model import Migration, Step
from dbplex.migrate.reports import ChangeReport, Event, PlanReport, RunReport, StatusReport

__all__ = [
    "TABLE",
    "ChangeReport",
    "DryRunUnsupported",
    "Event",
    "HistoryRow",
    "Lock",
    "LockLost",
    "LockOwner",
    "LockSettings",
    "LockTimeout",
    "Migration",
    "MigrationContext",
    "MigrationError",
    "MigrationFailed",
    "Migrations",
    "Migrator",
    "Mode",
    "PlanError",
    "PlanReport",
    "Prepared",
    "RunReport",
    "StatusReport",
    "Step",
    "ValidationError",
    "default_directory",
]
