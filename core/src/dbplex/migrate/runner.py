"""Run planned steps under the lock, writing one history row per attempt.

Every step first gets a ``running`` row, so that a process that dies mid-step leaves a trace;
the next run (holding the lock, so nobody else is running) marks such rows failed as
interrupted and retries the step. A step's success row commits in the step's own transaction
where the backend has one (PostgreSQL); otherwise it is written when the step returns. The
first failure stops the run; its row says ``failed`` with the error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import msgspec

from dbplex.errors import DbplexError
from dbplex.hub import Hub
from dbplex.migrate.backend import Migrator, Prepared
from dbplex.migrate.context import MigrationContext
from dbplex.migrate.errors import MigrationFailed
from dbplex.migrate.history import HistoryRow, Ledger, now
from dbplex.migrate.loading import error_location
from dbplex.migrate.locking import Keeper, LockOwner
from dbplex.migrate.model import Migration
from dbplex.migrate.reports import Event, RunReport, StepResult
from dbplex.secrets import scrub


def describe_error(exc: BaseException, migration: Migration) -> str:
    """One line for the history and the user: the error, and where in a Python migration it was raised."""
    text = str(exc) if isinstance(exc, DbplexError) else f"{type(exc).__name__}: {exc}"
    if migration.format == "py":
        text += error_location(exc, migration.path)
    return scrub(" / ".join(line.strip() for line in text.splitlines() if line.strip()))


class Runner:
    """One run's writes: ranks, interrupted rows, steps."""

    def __init__(
        self, hub: Hub, migrators: Mapping[str, Migrator], owner: LockOwner, notify: Callable[[Event], None]
    ) -> None:
        self.hub = hub
        self.migrators = migrators
        self.owner = owner
        self.notify = notify
        self._ranks: dict[str, int] = {}

    def _rank(self, source: str, ledger: Ledger) -> int:
        rank = self._ranks.get(source, ledger.next_rank)
        self._ranks[source] = rank + 1
        return rank

    def mark_interrupted(self, source: str, ledger: Ledger) -> list[str]:
        """Rows left ``running`` by a run that stopped: mark them failed (the lock is ours, so no run is active)."""
        refs = []
        for row in ledger.running:
            error = (
                f"interrupted: run {row.run_id[:8]} by {row.installed_by} stopped before this step finished "
                "(process ended or connection lost)"
            )
            self.migrators[source].write_history(msgspec.structs.replace(row, status="failed", error=error))
            ref = f"{source}:{row.id}"
            refs.append(ref)
            self.notify(Event(kind="interrupted", source=source, ref=ref, message=error))
        return refs

    def run(self, steps: list[Prepared], ledgers: Mapping[str, Ledger], keeper: Keeper, report: RunReport) -> None:
        """Run ``steps`` in order; raise :class:`MigrationFailed` (with ``report``) at the first failure."""
        for index, prepared in enumerate(steps, start=1):
            keeper.check()
            result = self._step(prepared, ledgers, index, len(steps), keeper)
            report.steps.append(result)
            if result.error is not None:
                report.error = f"{prepared.step.migration.ref} failed: {result.error}"
                raise MigrationFailed(str(prepared.step.migration.ref), result.error, report)
            keeper.check()

    def _step(
        self, prepared: Prepared, ledgers: Mapping[str, Ledger], index: int, total: int, keeper: Keeper
    ) -> StepResult:
        step, migration = prepared.step, prepared.step.migration
        migrator = self.migrators[migration.source]
        ref = str(migration.ref)
        self.notify(
            Event(kind="step_start", source=migration.source, ref=ref, index=index, total=total, message=migration.name)
        )
        row = HistoryRow(
            rank=self._rank(migration.source, ledgers[migration.source]),
            version=migration.version,
            description=migration.description,
            kind=migration.kind,
            action=step.direction,
            script=migration.name,
            checksum=migration.checksum,
            status="running",
            run_id=self.owner.run_id,
            installed_by=self.owner.installed_by,
            started_at=now(),
        )
        migrator.write_history(row)
        started = time.monotonic()
        finished: list[HistoryRow] = []

        def ended(status: str, error: str | None = None) -> HistoryRow:
            ms = int((time.monotonic() - started) * 1000)
            return msgspec.structs.replace(row, status=status, finished_at=now(), duration_ms=ms, error=error)

        def success() -> HistoryRow:
            if not finished:
                finished.append(ended(step.done))
            return finished[0]

        def note(text: str) -> None:
            self.notify(Event(kind="note", source=migration.source, ref=ref, message=text))

        ctx = MigrationContext(migration, migrator, self.hub, on_note=note, lock_check=keeper.check)
        try:
            migrator.execute(prepared, ctx, success)
            if not prepared.atomic:
                migrator.write_history(success())
        except BaseException as exc:
            error = describe_error(exc, migration)
            failed = ended("failed", error)
            try:
                migrator.write_history(failed)
            except Exception as write_error:  # the source may be gone; the row stays `running` (interrupted)
                self.notify(
                    Event(
                        kind="warning",
                        source=migration.source,
                        ref=ref,
                        message=f"could not record the failure: {write_error}",
                    )
                )
            if not isinstance(exc, Exception):
                raise
            return self._done(prepared, failed, error, index, total)
        return self._done(prepared, success(), migration.name, index, total)

    def _done(self, prepared: Prepared, row: HistoryRow, message: str, index: int, total: int) -> StepResult:
        """Announce that a step ended, as its final history ``row`` says, and report it; a failed
        step's line shows its error instead of a duration."""
        step, migration = prepared.step, prepared.step.migration
        ref = str(migration.ref)
        self.notify(
            Event(
                kind="step_done",
                source=migration.source,
                ref=ref,
                index=index,
                total=total,
                status=row.status,
                duration_ms=None if row.status == "failed" else row.duration_ms,
                message=message,
            )
        )
        return StepResult(
            ref=ref,
            file=str(migration.path),
            direction=step.direction,
            status=row.status,
            duration_ms=row.duration_ms,
            error=row.error,
        )
