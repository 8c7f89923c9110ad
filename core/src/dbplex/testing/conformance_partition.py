"""Conformance, partitioning: for a backend whose plugin implements ``dbplex_partition``.

Everything runs through ``hub.partitioned(spec)`` at one moment per test (the current hour, so
that a backend whose retention is an expiry on the server's clock sees the same days), on a
target name no other test uses. The backend's test class says what a daily time-range spec looks like
on its storage (:meth:`PartitionSection.partition_spec`) and makes what must exist before
partitions (:meth:`PartitionSection.prepare_partitioned`, e.g. PostgreSQL's parent table).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import dbplex
from dbplex.partition import PartitionSpec, layout
from dbplex.partition.api import Partitioned
from dbplex.partition.reports import RunReport
from dbplex.testing.conformance_base import SOURCE, SuiteBase

#: how many hubs run ``maintain`` at once in the concurrency test.
RACERS = 4


def _rows(now: datetime, days: int) -> list[dict[str, Any]]:
    """Rows at the start, the middle and the last second of each of the ``days`` days up to ``now``."""
    first = now.replace(hour=0, minute=0, second=0) - timedelta(days=days - 1)
    rows = []
    for day in range(days):
        base = first + timedelta(days=day)
        for n, offset in enumerate((timedelta(0), timedelta(hours=12), timedelta(days=1, seconds=-1))):
            if base + offset < now:
                rows.append({"id": day * 10 + n, "at": base + offset, "grp": n, "name": f"d{day}"})
    return rows


def _created(report: RunReport) -> list[str]:
    return [a.partition or "" for a in report.actions if a.kind == "create" and a.status == "done"]


class PartitionSection(SuiteBase):
    """Create, retire, concurrent maintenance that does each action once, and cross-partition order."""

    def partition_spec(self, target: str, **fields: Any) -> PartitionSpec:
        """A daily time-range spec on key ``at`` of rows ``{id, at, grp, name}`` for ``target``;
        ``fields`` override. Override to add the backend's ``options``."""
        base: dict[str, Any] = {
            "source": SOURCE,
            "target": target,
            "strategy": "range",
            "key": "at",
            "interval": "1 day",
            "premake": 2,
            "name": target,
        }
        return PartitionSpec(**{**base, **fields})

    def prepare_partitioned(self, hub: dbplex.Hub, spec: PartitionSpec) -> None:
        """Make what must exist before the spec's partitions (PostgreSQL: the partitioned parent)."""

    def filled(
        self, hub: dbplex.Hub, now: datetime, table: str, days: int
    ) -> tuple[PartitionSpec, Partitioned, list[dict[str, Any]]]:
        """A daily target keeping ``days`` days up to ``now``, applied, and the rows of
        :func:`_rows` inserted into it in shuffled order (as they were inserted)."""
        spec = self.partition_spec(table, since=f"{days - 1} days", premake=1)
        self.prepare_partitioned(hub, spec)
        target = hub.partitioned(spec)
        target.apply(now)
        rows = _rows(now, days)
        random.Random(7).shuffle(rows)
        assert target.insert(rows, now=now) == len(rows)
        return spec, target, rows

    @pytest.fixture
    def now(self) -> datetime:
        """The moment the test's runs are made for: the current time, on the second."""
        return datetime.now(timezone.utc).replace(microsecond=0)

    @pytest.fixture
    def partitioned_hub(self, hub: dbplex.Hub) -> dbplex.Hub:
        self.require(hub, "partition")
        return hub

    def test_apply_creates_the_wanted_partitions_and_a_second_run_has_nothing_to_do(
        self, partitioned_hub: dbplex.Hub, now: datetime, unique_table: str
    ) -> None:
        spec = self.partition_spec(unique_table, since="2 days", premake=2)
        self.prepare_partitioned(partitioned_hub, spec)
        target = partitioned_hub.partitioned(spec)
        report = target.apply(now)
        wanted = [p.name for p in layout(spec, now).wanted]
        assert report.status == "done" and sorted(_created(report)) == sorted(wanted), report
        status = target.status(now)
        assert status.missing == [] and {p.name for p in status.partitions} >= set(wanted)
        again = target.maintain(now)
        assert again.status == "nothing" and again.actions == [], again

    def test_retention_retires_exactly_the_partitions_past_the_window(
        self, partitioned_hub: dbplex.Hub, now: datetime, unique_table: str
    ) -> None:
        keep_all, _, rows = self.filled(partitioned_hub, now, unique_table, days=6)
        limited = self.partition_spec(unique_table, since="5 days", premake=1, retention="2 days")
        report = partitioned_hub.partitioned(limited).apply(now)
        cutoff = now - timedelta(days=2)
        retired = {a.partition for a in report.actions if a.kind == "retire" and a.status == "done"}
        expected = {p.name for p in layout(keep_all, now).wanted if p.upper <= cutoff}  # type: ignore[operator]
        assert expected and retired == expected, report
        floor = cutoff.replace(hour=0, minute=0, second=0)
        left = partitioned_hub.partitioned(limited).query(order_by=["id"])
        assert [r["id"] for r in left] == sorted(r["id"] for r in rows if r["at"] >= floor)

    def test_concurrent_maintain_does_each_action_once(
        self, partitioned_hub: dbplex.Hub, now: datetime, source_url: str, unique_table: str
    ) -> None:
        spec = self.partition_spec(unique_table, interval="1 hour", since="6 hours", premake=3)
        self.prepare_partitioned(partitioned_hub, spec)
        fields = {**self.source_fields, "url": source_url}
        hubs = [dbplex.open({"sources": {SOURCE: fields}}) for _ in range(RACERS)]
        reports: list[RunReport] = []
        errors: list[BaseException] = []
        gate = threading.Barrier(RACERS)

        def race(hub: dbplex.Hub) -> None:
            try:
                target = hub.partitioned(spec)
                target.inventory(now)  # connected before the start line
                gate.wait(30)
                reports.append(target.maintain(now, lock_wait=30))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(hub,)) for hub in hubs]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
        finally:
            for hub in hubs:
                hub.close()
        assert not errors, errors
        created = Counter(name for report in reports for name in _created(report))
        assert created == Counter(p.name for p in layout(spec, now).wanted), "each partition created exactly once"
        statuses = Counter(report.status for report in reports)
        assert statuses["done"] == 1 and statuses["done"] + statuses["nothing"] + statuses["busy"] == RACERS, statuses
        assert partitioned_hub.partitioned(spec).status(now).missing == []

    def test_a_query_across_partitions_returns_rows_in_global_order(
        self, partitioned_hub: dbplex.Hub, now: datetime, unique_table: str
    ) -> None:
        _, target, rows = self.filled(partitioned_hub, now, unique_table, days=5)
        newest_first = sorted(rows, key=lambda r: (-r["at"].timestamp(), r["id"]))
        page = target.query(order_by=["-at", "id"], limit=7)
        assert [r["id"] for r in page.rows] == [r["id"] for r in newest_first[:7]]
        since = now - timedelta(days=2)
        window = target.query(("at", ">=", since), order_by=["grp", "-id"])
        expected = sorted((r for r in rows if r["at"] >= since), key=lambda r: (r["grp"], -r["id"]))
        assert [r["id"] for r in window.rows] == [r["id"] for r in expected]
        assert window.pruned, "partitions wholly before the condition are not read"
