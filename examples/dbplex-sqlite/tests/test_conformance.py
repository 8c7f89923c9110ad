"""dbplex's conformance suite, run against SQLite: the test every backend plugin ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbplex.testing.conformance import ConformanceSuite


class TestSqliteConformance(ConformanceSuite):
    backend = "sqlite"

    @pytest.fixture
    def source_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/test.db"

    @pytest.fixture
    def unreachable_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/no-such-dir/app.db"
