"""Conformance, bench baseline: for a backend whose plugin implements ``dbplex_bench_baseline``.

``dbplex bench`` states dbplex's overhead against the raw driver doing the same ops on the same
storage layout; that comparison is only fair if the two really share the layout, which these
tests show by having each side read what the other wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Get, Put, Scan
from dbplex.bench.baseline import Baseline
from dbplex.bench.targets import baseline
from dbplex.testing.conformance_base import SOURCE, SuiteBase

RECORD = {"field0": "a" * 10, "field1": "b" * 10}


def _fields(found: Any) -> dict[str, Any]:
    """The record fields of what the baseline read (a driver's row may carry more, e.g. ``_id``)."""
    return {name: value for name, value in dict(found).items() if name in RECORD}


class BaselineSection(SuiteBase):
    """dbplex and the raw-driver baseline read each other's records."""

    @pytest.fixture
    def raw_baseline(self, hub: dbplex.Hub) -> Iterator[Baseline]:
        self.require(hub, "bench_baseline")
        found = baseline(hub, SOURCE, 2)
        assert found is not None, "the plugin implements dbplex_bench_baseline but returned no baseline"
        assert isinstance(found, Baseline), f"{type(found).__name__} does not satisfy dbplex.bench.baseline.Baseline"
        yield found
        found.close()

    def test_the_baseline_reads_what_dbplex_wrote(
        self, hub: dbplex.Hub, raw_baseline: Baseline, unique_table: str
    ) -> None:
        for i in range(5):
            hub.execute(SOURCE, Put(unique_table, f"k{i}", RECORD))
        assert _fields(raw_baseline.get(unique_table, "k1", None)) == RECORD
        assert _fields(raw_baseline.get(unique_table, "k1", ["field1"])) == {"field1": RECORD["field1"]}
        assert not raw_baseline.get(unique_table, "missing", None)

    def test_dbplex_reads_what_the_baseline_wrote(
        self, hub: dbplex.Hub, raw_baseline: Baseline, unique_table: str
    ) -> None:
        hub.execute(SOURCE, Put(unique_table, "seed", RECORD))  # dbplex creates the table, as bench's load does
        raw_baseline.put(unique_table, "k1", RECORD)
        raw_baseline.put_many(unique_table, [(f"m{i}", {"field0": str(i)}) for i in range(3)])
        raw_baseline.update(unique_table, "k1", {"field1": "changed"})
        assert hub.execute(SOURCE, Get(unique_table, "k1")).one()["values"] == {**RECORD, "field1": "changed"}
        assert [r["key"] for r in hub.execute(SOURCE, Scan(unique_table, "m", 3))] == ["m0", "m1", "m2"]
        assert hub.execute(SOURCE, Get(unique_table, "m2")).one()["values"] == {"field0": "2"}
        raw_baseline.delete(unique_table, "k1")
        assert hub.execute(SOURCE, Get(unique_table, "k1")).rows == []
        assert hub.execute(SOURCE, Delete(unique_table, "k1")).affected == 0
