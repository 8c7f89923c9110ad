"""dbplex's conformance suite, run against SQLite: the test every backend plugin ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dbplex.testing.conformance import ConformanceSuite

NO_SERVER = "an SQLite database is a file opened in-process: there is no server"


class TestSqliteConformance(ConformanceSuite):
    backend = "sqlite"

    @pytest.fixture
    def source_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/test.db"

    @pytest.fixture
    def unreachable_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/no-such-dir/app.db"

    def test_a_connection_killed_by_the_server_is_replaced_not_handed_out(
        self, open_source: Any, source_url: str, unique_table: str
    ) -> None:
        pytest.skip(f"{NO_SERVER} to end a connection")

    def test_connect_timeout_holds_against_a_server_that_accepts_and_never_answers(
        self, silent_server: Any, source_url: str, unique_table: str
    ) -> None:
        pytest.skip(f"{NO_SERVER} to connect to; the unreachable test covers a path that cannot be opened")
