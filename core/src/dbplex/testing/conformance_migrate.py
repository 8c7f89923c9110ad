"""Conformance, migrations: for a backend whose plugin implements ``dbplex_migrate``.

The migrations are Python files that change records through the hub (``ctx.hub``), so they mean
the same on every backend. Each test runs in a place of its own that the backend's test class
provides (:meth:`MigrateSection.isolated`): a schema, a database or a key prefix, because the
history and the lock live in the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get
from dbplex.migrate import Migrations
from dbplex.migrate.errors import LockTimeout, MigrationFailed
from dbplex.migrate.history import HistoryRow
from dbplex.testing.conformance_base import SOURCE, SuiteBase

#: a migration that writes one record on the way up and removes it on the way down.
MARK = """\
from dbplex import Delete, Put

def up(ctx):
    ctx.hub.execute(ctx.source, Put({table!r}, {key!r}, {{"by": {key!r}}}))

def down(ctx):
    ctx.hub.execute(ctx.source, Delete({table!r}, {key!r}))
"""

#: a migration that writes a record, then fails.
FAILS = """\
from dbplex import Put

def up(ctx):
    ctx.hub.execute(ctx.source, Put({table!r}, "half", {{"done": "half"}}))
    raise RuntimeError("conformance: this step fails on purpose")

def down(ctx):
    pass
"""

#: a migration that says it started, then waits for the test to release it (at most a minute).
WAITS = """\
import os, pathlib, time

def up(ctx):
    pathlib.Path(os.environ["DBPLEX_CONFORMANCE_STARTED"]).write_text("started")
    release = pathlib.Path(os.environ["DBPLEX_CONFORMANCE_RELEASE"])
    for _ in range(600):
        if release.exists():
            return
        time.sleep(0.1)

def down(ctx):
    pass
"""

#: ``dbplex migrate up`` of the source in ``argv[1]`` (JSON) with the migrations in ``argv[2]``.
CHILD = """\
import json, sys
import dbplex
from dbplex.migrate import Migrations
with dbplex.open({"sources": {"s": json.loads(sys.argv[1])}}) as hub, Migrations(hub, sys.argv[2]) as m:
    print(json.dumps([s.ref for s in m.up().steps]))
"""


def _rows(migrations: Migrations) -> list[HistoryRow]:
    return sorted(migrations.migrator(SOURCE).read_history(), key=lambda r: r.rank)


class MigrateSection(SuiteBase):
    """History round trip, lock exclusion across processes, and a failed step's history."""

    def isolated(self, url: str) -> AbstractContextManager[dict[str, Any]]:
        """Source fields (``url``, ``options``) for a place no other test uses, removed afterwards.

        Required from a backend that implements ``dbplex_migrate``: PostgreSQL a fresh schema on
        the search path, MongoDB a fresh database, Redis a fresh key prefix."""
        raise NotImplementedError(
            f"{type(self).__name__}.isolated(url): the backend declares 'migrate'; give each test a "
            "schema, database or key prefix of its own"
        )

    @pytest.fixture
    def place(self, hub: dbplex.Hub, source_url: str) -> Iterator[dict[str, Any]]:
        self.require(hub, "migrate")
        with self.isolated(source_url) as fields:
            yield {**fields, "pool": {"min_size": 1, "max_size": 2}}

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        (tmp_path / "migrations" / SOURCE).mkdir(parents=True)
        return tmp_path / "migrations"

    def test_history_round_trip_up_status_and_down(
        self, place: dict[str, Any], folder: Path, unique_table: str
    ) -> None:
        (folder / SOURCE / "V0001__mark.py").write_text(MARK.format(table=unique_table, key="one"))
        (folder / SOURCE / "V0002__mark.py").write_text(MARK.format(table=unique_table, key="two"))
        with dbplex.open({"sources": {SOURCE: place}}) as hub, Migrations(hub, folder, sources=[SOURCE]) as migrations:
            report = migrations.up()
            assert [s.ref for s in report.steps] == [f"{SOURCE}:V1", f"{SOURCE}:V2"]
            assert all(s.status == "success" for s in report.steps), report.steps
            assert hub.execute(SOURCE, Get(unique_table, "two")).one()["values"] == {"by": "two"}
            rows = _rows(migrations)
            assert [(r.version, r.action, r.status) for r in rows] == [
                ("0001", "up", "success"),
                ("0002", "up", "success"),
            ]
            assert all(r.checksum and r.finished_at and r.run_id == report.run_id for r in rows)
            assert not migrations.up().steps, "a second up has nothing to do"

            reverted = migrations.down()  # the latest migration of the one selected source
            assert [(s.ref, s.direction, s.status) for s in reverted.steps] == [(f"{SOURCE}:V2", "down", "rolled_back")]
            assert hub.execute(SOURCE, Get(unique_table, "two")).rows == []
            assert [(r.version, r.action) for r in _rows(migrations)][-1] == ("0002", "down")
            states = {m.ref: m.state for m in migrations.status().sources[0].migrations}
            assert states == {f"{SOURCE}:V1": "applied", f"{SOURCE}:V2": "rolled_back"}, states
            assert [s.ref for s in migrations.up().steps] == [f"{SOURCE}:V2"], "a reverted step applies again"

    def test_a_failed_step_leaves_a_consistent_history(
        self, place: dict[str, Any], folder: Path, unique_table: str
    ) -> None:
        (folder / SOURCE / "V0001__mark.py").write_text(MARK.format(table=unique_table, key="one"))
        (folder / SOURCE / "V0002__fails.py").write_text(FAILS.format(table=unique_table))
        with dbplex.open({"sources": {SOURCE: place}}) as hub, Migrations(hub, folder, sources=[SOURCE]) as migrations:
            with pytest.raises(MigrationFailed, match="this step fails on purpose") as raised:
                migrations.up()
            assert raised.value.ref == f"{SOURCE}:V2"
            rows = _rows(migrations)
            assert [(r.version, r.status) for r in rows] == [("0001", "success"), ("0002", "failed")]
            assert "this step fails on purpose" in (rows[-1].error or "")
            states = {m.ref: m.state for m in migrations.status().sources[0].migrations}
            assert states == {f"{SOURCE}:V1": "applied", f"{SOURCE}:V2": "failed"}, states
        (folder / SOURCE / "V0002__fails.py").write_text(MARK.format(table=unique_table, key="two"))
        with dbplex.open({"sources": {SOURCE: place}}) as hub, Migrations(hub, folder, sources=[SOURCE]) as migrations:
            assert [s.ref for s in migrations.up().steps] == [f"{SOURCE}:V2"], "the fixed step runs; V1 is not redone"
            assert [(r.version, r.status) for r in _rows(migrations)] == [
                ("0001", "success"),
                ("0002", "failed"),
                ("0002", "success"),
            ]

    def test_the_lock_excludes_another_process(
        self, place: dict[str, Any], folder: Path, tmp_path: Path, unique_table: str
    ) -> None:
        """A run in another process holds the lock: a run that may wait 0.5 s fails with
        LockTimeout; one that may wait longer waits, then finds nothing left to do."""
        (folder / SOURCE / "V0001__waits.py").write_text(WAITS)
        started, release = tmp_path / "started", tmp_path / "release"
        env = {"DBPLEX_CONFORMANCE_STARTED": str(started), "DBPLEX_CONFORMANCE_RELEASE": str(release)}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(place), str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        try:
            deadline = time.monotonic() + 60
            while not started.exists():
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline, "the other process never started its migration"
                time.sleep(0.05)
            impatient = {"sources": {SOURCE: place}, "migration_lock": {"wait": 0.5}}
            with (
                dbplex.open(impatient) as hub,
                Migrations(hub, folder) as migrations,
                pytest.raises(LockTimeout, match=repr(SOURCE)),
            ):
                migrations.up()
            patient = {"sources": {SOURCE: place}, "migration_lock": {"wait": 60}}
            with dbplex.open(patient) as hub, Migrations(hub, folder) as migrations:
                release.write_text("go")  # the other run finishes while this one waits for its lock
                assert migrations.up().steps == [], "the waiting run found the step applied by the other"
                rows = _rows(migrations)
        finally:
            release.write_text("go")
            out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == [f"{SOURCE}:V1"]
        assert [(r.version, r.action, r.status) for r in rows] == [("0001", "up", "success")]
