"""Conformance, capabilities: every capability a backend declares works; the rest are skipped.

One test per entry of :data:`dbplex.testing.capabilities.ALL`. A declared capability runs its
check and fails when the check fails, or when there is no check: ``transactions`` and the
optional hooks are checked here, every other flag (``ttl``, ``sql``, ``pubsub``, ...) by a
``check_<flag>(hub, table)`` method the backend's test class writes with its own ops, since the
uniform ops do not reach those features. A server that lacks a feature the backend implements
(a standalone MongoDB has no transactions) is named by :meth:`~dbplex.testing.conformance_base.SuiteBase.server_lacks`,
with the reason, and only then is the check skipped.
"""

from __future__ import annotations

import pytest

import dbplex
from dbplex import Get, Put
from dbplex.bench.baseline import Baseline
from dbplex.bench.targets import baseline
from dbplex.migrate import Migrations
from dbplex.testing.capabilities import ALL
from dbplex.testing.conformance_base import SOURCE, SuiteBase


class CapabilitySection(SuiteBase):
    """What each declared capability requires (see docs/plugins.md, *Capabilities*)."""

    @pytest.mark.parametrize("capability", ALL)
    def test_a_declared_capability_works(self, hub: dbplex.Hub, unique_table: str, capability: str) -> None:
        if not self.has(hub, capability):
            pytest.skip(f"backend {hub.backend(SOURCE).name!r} does not declare {capability!r}")
        lacking = self.server_lacks(hub, capability)
        if lacking is not None:
            pytest.skip(f"{capability}: {lacking}")
        check = getattr(self, f"check_{capability}", None)
        if check is None:
            pytest.fail(
                f"backend {hub.backend(SOURCE).name!r} declares {capability!r}, but {type(self).__name__} has no "
                f"check_{capability}(hub, table) showing that it works; write one with the backend's own ops"
            )
        check(hub, unique_table)

    def check_transactions(self, hub: dbplex.Hub, table: str) -> None:
        """``hub.transaction()`` commits uniform ops together and rolls them back together."""
        with hub.transaction(SOURCE) as tx:
            tx.execute(Put(table, "a", {"n": 1}))
            tx.execute(Put(table, "b", {"n": 2}))
        with pytest.raises(RuntimeError, match="roll back"), hub.transaction(SOURCE) as tx:
            tx.execute(Put(table, "a", {"n": 10}))
            raise RuntimeError("roll back")
        assert hub.execute(SOURCE, Get(table, "a")).one()["values"] == {"n": 1}
        assert hub.execute(SOURCE, Get(table, "b")).one()["values"] == {"n": 2}

    def check_migrate(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_migrate`` returns a migrator that runs Python migrations and reads its history."""
        with Migrations(hub, ".") as migrations:
            migrator = migrations.migrator(SOURCE)
            assert "py" in migrator.formats, f"the migrator runs {sorted(migrator.formats)}, not Python migrations"
            assert isinstance(migrator.read_history(), list)

    def check_partition(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_partition`` returns a partitioner (the partition section tests what it does)."""
        assert hub.partitioner(SOURCE) is not None

    def check_check(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_check`` returns a checker with a read counter (the checker section tests what it does)."""
        assert hub.checker(SOURCE).reads == 0

    def check_describe(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_describe`` returns a describer (the describer section tests what it does)."""
        assert hub.describer(SOURCE) is not None

    def check_watch(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_watch`` returns a change feed that installs (the change feed section tests the rest)."""
        feed = hub.change_feed(SOURCE)
        try:
            feed.install(table)
        finally:
            feed.close()

    def check_bench_baseline(self, hub: dbplex.Hub, table: str) -> None:
        """``dbplex_bench_baseline`` returns a Baseline (the baseline section tests what it does)."""
        found = baseline(hub, SOURCE, 1)
        assert isinstance(found, Baseline), f"got {type(found).__name__}, not a dbplex.bench.baseline.Baseline"
        found.close()
