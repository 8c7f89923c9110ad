"""``Migrations``: the migrate commands over a hub and a migrations directory.

    with dbplex.open("dbplex.toml") as hub, Migrations(hub, "migrations") as migrations:
        migrations.up()

Files are read once per object; histories are read again for each command (and again under
the lock before anything is written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import msgspec

from dbplex.errors import ConfigError
from dbplex.hub import Hub
from dbplex.migrate import dryrun
from dbplex.migrate.backend import Migrator
from dbplex.migrate.discovery import Discovered, discover, source_folders
from dbplex.migrate.errors import MigrationError, PlanError, ValidationError
from dbplex.migrate.graph import Graph
from dbplex.migrate.history import HistoryRow, Ledger, now
from dbplex.migrate.loading import Rules
from dbplex.migrate.locking import Keeper, LockOwner, LockSettings, holding, this_process
from dbplex.migrate.model import Migration, Step
from dbplex.migrate.naming import Ref, parse_ref, parse_version
from dbplex.migrate.planner import plan_down, plan_up
from dbplex.migrate.reports import ChangeReport, Event, PlanReport, RunReport, StatusReport
from dbplex.migrate.runner import Runner
from dbplex.migrate.status import source_state
from dbplex.migrate.validation import validate

Direction = Literal["up", "down"]


def default_directory(config_path: str | None, configured: str | None) -> Path:
    """The config's ``migrations`` key (relative to the config file), else ``migrations/`` beside it."""
    base = Path(config_path).parent if config_path else Path()
    return base / (configured or "migrations")


class Migrations:
    """The migrations under ``directory`` for the hub's sources (or only ``sources``)."""

    def __init__(
        self,
        hub: Hub,
        directory: str | Path,
        *,
        sources: list[str] | None = None,
        lock: LockSettings | None = None,
        notify: Callable[[Event], None] | None = None,
    ) -> None:
        self.hub = hub
        self.directory = Path(directory)
        for name in sources or []:
            hub.backend(name)  # an unknown source is a ConfigError naming the configured ones
        self._only = list(sources) if sources else None
        configured = hub.config.migration_lock
        self.lock_settings = lock or LockSettings(wait=configured.wait, ttl=configured.ttl)
        self.notify = notify or (lambda event: None)
        self._migrators: dict[str, Migrator] = {}
        self._discovered: Discovered | None = None

    # -- parts ----------------------------------------------------------------------------------

    def migrator(self, source: str) -> Migrator:
        """The backend adapter of ``source``, from its plugin's ``dbplex_migrate`` hook (made once)."""
        found = self._migrators.get(source)
        if found is None:
            found = self._migrators[source] = self.hub.migrator(source)
        return found

    def discovered(self) -> Discovered:
        """Every source folder's migrations, read and checked (cached)."""
        if self._discovered is None:
            if not self.directory.is_dir():
                raise ConfigError(
                    f"{self.directory}: no such migrations directory (pass --dir, or set `migrations` in the configuration)"
                )
            rules = {}
            for name in source_folders(self.directory):
                if name in self.hub.sources:
                    migrator = self.migrator(name)
                    rules[name] = Rules(migrator.formats, migrator.file_options)
            self._discovered = discover(self.directory, rules, self.hub.sources, only=self._only)
        return self._discovered

    def graph(self) -> Graph:
        """The dependency graph; :class:`PlanError` when a file or folder has problems."""
        found = self.discovered()
        if found.problems:
            raise PlanError(found.problems)
        return Graph(found.migrations)

    @property
    def selected(self) -> list[str]:
        """The sources commands act on: ``sources`` given, else every source with a folder."""
        return self._only if self._only is not None else sorted(self.discovered().migrations)

    def ledgers(self) -> dict[str, Ledger]:
        """The history of every source with migrations or selected."""
        names = sorted(set(self.discovered().migrations) | set(self.selected))
        return {name: Ledger(self.migrator(name).read_history()) for name in names}

    def target(self, text: str | None) -> Ref | None:
        """``--to``: ``pg:V3``, or ``V3`` when one source is selected."""
        return None if text is None else self.ref(text, "--to")

    def ref(self, text: str, option: str) -> Ref:
        """A migration given on the command line: ``pg:V3``, or ``V3`` when one source is selected."""
        only = self.selected[0] if len(self.selected) == 1 else None
        ref = parse_ref(text, only)
        if ref is not None:
            return ref
        if parse_ref(text, "any") is not None:
            choices = ", ".join(f"{s}:{text}" for s in self.selected)
            raise ConfigError(f"{option} {text}: several sources are selected; name one ({choices})")
        raise ConfigError(f"{option} {text}: not a version (examples: V0003, pg:V3, 1.2)")

    def _steps(self, direction: Direction, graph: Graph, ledgers: dict[str, Ledger], target: Ref | None) -> list[Step]:
        plan = plan_up if direction == "up" else plan_down
        return plan(graph, ledgers, self.selected, target)

    def _check(self, ledgers: dict[str, Ledger], direction: Direction) -> None:
        problems = validate(self.discovered().migrations, ledgers, self.selected, heads=direction == "up")
        if problems:
            raise ValidationError(problems)

    @contextmanager
    def _locked(self, owner: LockOwner, sources: set[str]) -> Iterator[Keeper]:
        locks = [self.migrator(s).lock(owner, self.lock_settings) for s in sorted(sources)]

        def notify(source: str, message: str) -> None:
            self.notify(Event(kind="lock", source=source, message=message))

        with holding(locks, self.lock_settings, notify) as keeper:
            for source in sorted(sources):
                self.migrator(source).ensure_history()
            yield keeper

    # -- commands -------------------------------------------------------------------------------

    def validate(self) -> list[str]:
        """Every problem: files, dependencies, checksum drift, missing files, two heads."""
        found = self.discovered()
        if found.problems:
            return list(found.problems)
        graph = Graph(found.migrations)
        if graph.problems:
            return graph.problems
        return validate(found.migrations, self.ledgers(), self.selected)

    def plan(self, direction: Direction = "up", to: str | None = None, *, dry_run: bool = False) -> PlanReport:
        """What ``up`` or ``down`` would do; with ``dry_run``, the exact commands and locks too."""
        graph, target = self.graph(), self.target(to)
        ledgers = self.ledgers()
        self._check(ledgers, direction)
        steps = self._steps(direction, graph, ledgers, target)
        prepared = [self.migrator(s.migration.source).prepare(s) for s in steps]
        report = PlanReport(
            direction=direction,
            steps=[dryrun.planned(p, self.migrator(p.step.migration.source), self.hub, dry_run) for p in prepared],
        )
        if dry_run:
            owner = this_process()
            report.locks = {
                s: self.migrator(s).lock(owner, self.lock_settings).describe()
                for s in sorted({p.step.migration.source for p in prepared})
            }
        return report

    def up(self, to: str | None = None) -> RunReport:
        """Apply what is pending (up to ``to``); stops at the first failure (:class:`MigrationFailed`)."""
        return self._run("up", to)

    def down(self, to: str | None = None) -> RunReport:
        """Revert to version ``to`` (``V0``: everything), or the latest migration of the one selected source."""
        return self._run("down", to)

    def _run(self, direction: Direction, to: str | None) -> RunReport:
        graph, target = self.graph(), self.target(to)
        owner = this_process()
        report = RunReport(run_id=owner.run_id, direction=direction)
        runner = Runner(self.hub, self._migrators, owner, self.notify)
        needed: set[str] = set()
        for _ in range(3):  # a concurrent `down` may add a source to the plan while we wait
            ledgers = self.ledgers()
            self._check(ledgers, direction)
            needed |= {s.migration.source for s in self._steps(direction, graph, ledgers, target)}
            if not needed:
                return report
            with self._locked(owner, needed) as keeper:
                ledgers = self.ledgers()
                for source in sorted(needed):
                    report.interrupted += runner.mark_interrupted(source, ledgers[source])
                if report.interrupted:
                    ledgers = self.ledgers()
                self._check(ledgers, direction)
                steps = self._steps(direction, graph, ledgers, target)
                if {s.migration.source for s in steps} - needed:
                    needed |= {s.migration.source for s in steps}
                    continue
                prepared = [self.migrator(s.migration.source).prepare(s) for s in steps]
                runner.run(prepared, ledgers, keeper, report)
                return report
        raise MigrationError("the plan kept needing more sources while waiting for their locks; run again")

    def status(self) -> StatusReport:
        """Every migration of the selected sources with its state."""
        found = self.discovered()
        ledgers = self.ledgers()
        report = StatusReport(directory=str(self.directory))
        for source in self.selected:
            backend = self.hub.backend(source).name
            report.sources.append(source_state(source, backend, found.migrations.get(source, []), ledgers[source]))
        return report

    def baseline(self, version: str) -> ChangeReport:
        """Mark versions up to ``version`` as applied in a database that predates these migrations."""
        ref = self.ref(version, "baseline")
        key = parse_version(ref.id[1:]) if ref.id.startswith("V") else None
        if key is None:
            raise ConfigError(f"baseline {version}: give a version, like V0003")
        owner = this_process()
        with self._locked(owner, {ref.source}):
            migrator = self.migrator(ref.source)
            ledger = Ledger(migrator.read_history())
            if ledger.has_applied:
                raise MigrationError(
                    f"source {ref.source!r} already has applied migrations; a baseline marks a database that has none yet"
                )
            stamp = now()
            migrator.write_history(
                HistoryRow(
                    rank=ledger.next_rank,
                    version=ref.id[1:],
                    description="baseline",
                    kind="versioned",
                    action="baseline",
                    script="",
                    checksum=None,
                    status="success",
                    run_id=owner.run_id,
                    installed_by=owner.installed_by,
                    started_at=stamp,
                    finished_at=stamp,
                    duration_ms=0,
                )
            )
        return ChangeReport(run_id=owner.run_id, changes=[f"{ref}: versions up to {ref.id} count as applied"])

    def repair(self, accept_checksum: Sequence[str] = ()) -> ChangeReport:
        """Mark rows of stopped runs as failed, and record deliberate edits of applied files."""
        migrations = {m.ref: m for m in self.graph().nodes.values()}
        refs = [self.ref(text, "--accept-checksum") for text in accept_checksum]
        sources = {r.source for r in refs} | set(self.selected)
        owner = this_process()
        report = ChangeReport(run_id=owner.run_id)
        runner = Runner(self.hub, self._migrators, owner, self.notify)
        with self._locked(owner, sources):
            ledgers = self.ledgers()
            for source in sorted(sources):
                report.changes += [
                    f"{r}: interrupted run marked failed" for r in runner.mark_interrupted(source, ledgers[source])
                ]
            for ref in refs:
                ledger = Ledger(self.migrator(ref.source).read_history())  # again for each: ranks move on
                report.changes.append(self._accept(ref, migrations.get(ref), ledger, owner))
        return report

    def _accept(self, ref: Ref, migration: Migration | None, ledger: Ledger, owner: LockOwner) -> str:
        if migration is None:
            raise MigrationError(f"repair --accept-checksum {ref}: no such migration file")
        entry = ledger.entry(migration.id, migration.version_key)
        if entry is None or not entry.applied or entry.row is None:
            raise MigrationError(
                f"repair --accept-checksum {ref}: {migration.path} is not applied, so it has no checksum to accept"
            )
        if entry.checksum == migration.checksum:
            return f"{ref}: checksum already matches {migration.path}"
        stamp = now()
        row = msgspec.structs.replace(
            entry.row,
            rank=ledger.next_rank,
            action="repair",
            script=migration.name,
            checksum=migration.checksum,
            status="success",
            run_id=owner.run_id,
            installed_by=owner.installed_by,
            started_at=stamp,
            finished_at=stamp,
            duration_ms=0,
            error=None,
        )
        self.migrator(ref.source).write_history(row)
        return f"{ref}: accepted the new checksum of {migration.path}"

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        migrators, self._migrators = self._migrators, {}
        for migrator in migrators.values():
            migrator.close()

    def __enter__(self) -> Migrations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
