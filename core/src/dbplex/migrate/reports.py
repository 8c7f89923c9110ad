"""What the migrate commands return: plain Structs, printed as tables or as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Progress of a run, for a progress display or a log."""

    kind: Literal["lock", "interrupted", "step_start", "step_done", "note", "warning"]
    source: str
    message: str = ""
    ref: str | None = None
    index: int = 0
    total: int = 0
    duration_ms: int | None = None
    status: str | None = None


class PlannedStep(msgspec.Struct, kw_only=True):
    """One step of a plan, with how it will run."""

    ref: str
    file: str
    direction: Literal["up", "down"]
    #: "new", "retry", "reapply", "changed" or "revert".
    reason: str
    #: "transaction" or "autocommit".
    mode: str
    #: the history row commits in the step's own transaction.
    atomic: bool
    settings: dict[str, str] = {}
    #: the exact commands (dry run only).
    commands: list[str] = []
    notes: list[str] = []


class PlanReport(msgspec.Struct, kw_only=True):
    direction: Literal["up", "down"]
    #: source -> how its lock works (dry run only).
    locks: dict[str, str] = {}
    steps: list[PlannedStep] = []


class StepResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    ref: str
    file: str
    direction: Literal["up", "down"]
    #: "success", "rolled_back" or "failed".
    status: str
    duration_ms: int | None = None
    error: str | None = None


class RunReport(msgspec.Struct, kw_only=True):
    run_id: str
    direction: Literal["up", "down"]
    steps: list[StepResult] = []
    #: rows of earlier runs found ``running`` and marked failed (interrupted), as refs.
    interrupted: list[str] = []
    error: str | None = None


class MigrationState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One migration of one source, as files and history see it."""

    ref: str
    kind: str
    description: str
    #: applied, baselined, pending, changed (applied, file edited), outdated (repeatable to run again), failed,
    #: running, rolled_back, reverting, revert_failed (still applied), missing (applied, no file).
    state: str
    file: str | None = None
    version: str | None = None
    installed_at: dt.datetime | None = None
    installed_by: str | None = None
    duration_ms: int | None = None
    error: str | None = None


class SourceState(msgspec.Struct, kw_only=True):
    source: str
    backend: str
    migrations: list[MigrationState] = []
    baseline: str | None = None


class StatusReport(msgspec.Struct, kw_only=True):
    directory: str
    sources: list[SourceState] = []


class ChangeReport(msgspec.Struct, kw_only=True):
    """What `baseline` or `repair` recorded."""

    run_id: str
    #: what was recorded, one line each.
    changes: list[str] = []
