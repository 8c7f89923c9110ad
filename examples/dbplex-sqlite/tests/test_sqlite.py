"""What SQLite users rely on beyond the conformance suite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import dbplex
import pytest
from dbplex import Get, Put, Scan, Update, hookimpl, plugins
from dbplex.ops import decode

OpenHub = Callable[..., dbplex.Hub]


@pytest.fixture
def open_hub(tmp_path: Path) -> Iterator[OpenHub]:
    """``open_hub(url=..., **source_fields)`` opens a hub with one source ``db``; closed after the test."""
    hubs: list[dbplex.Hub] = []

    def make(url: str = f"sqlite:///{tmp_path}/app.db", **fields: Any) -> dbplex.Hub:
        hub = dbplex.open({"sources": {"db": {"url": url, **fields}}})
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def test_records_persist_in_the_file(open_hub: OpenHub, tmp_path: Path) -> None:
    with open_hub() as hub:
        hub.execute("db", Put("t", "k", {"a": b"\x01"}))
    assert (tmp_path / "app.db").is_file()
    with open_hub() as hub:
        assert hub.execute("db", Get("t", "k")).one()["values"] == {"a": b"\x01"}


def test_relative_url_is_relative_to_the_working_directory(
    open_hub: OpenHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hub = open_hub(url="sqlite:///relative.db")
    hub.execute("db", Put("t", "k", {}))
    assert (tmp_path / "relative.db").is_file()


def test_wal_is_the_default_journal_mode_and_the_option_changes_it(open_hub: OpenHub, tmp_path: Path) -> None:
    wal = open_hub()
    assert wal.health().sources[0].details["journal_mode"] == "wal"
    rollback = open_hub(url=f"sqlite:///{tmp_path}/other.db", options={"journal_mode": "delete"})
    with rollback.connection("db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_unopenable_file_names_the_path(open_hub: OpenHub, tmp_path: Path) -> None:
    hub = open_hub(url=f"sqlite:///{tmp_path}/no-such-dir/app.db")
    with pytest.raises(
        dbplex.SourceUnavailable, match=r"source 'db': cannot open SQLite database .*no-such-dir/app\.db"
    ):
        hub.execute("db", Get("t", "k"))


def test_a_file_that_is_not_a_database_is_unavailable(open_hub: OpenHub, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database, but long enough to have a header " * 20)
    hub = open_hub(url=f"sqlite:///{tmp_path}/notes.txt")
    with pytest.raises(dbplex.SourceUnavailable, match="not a database"):
        hub.execute("db", Get("t", "k"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/app.db", "not a SQLite file URL"),
        ("sqlite:///app.db?mode=ro", "not a SQLite file URL"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_urls_that_name_no_file_are_configuration_errors(open_hub: OpenHub, url: str, message: str) -> None:
    with pytest.raises(dbplex.ConfigError, match=message):
        open_hub(url=url).execute("db", Get("t", "k"))


def test_unknown_options_are_refused_when_the_hub_opens(open_hub: OpenHub) -> None:
    with pytest.raises(dbplex.ConfigError, match="journal"):
        open_hub(options={"journal": "wal"})


def test_scan_orders_by_code_point_where_utf16_would_not(open_hub: OpenHub) -> None:
    # U+FFFD sorts after U+10000's UTF-16 surrogates (D800..) but before it by code point.
    keys = ["\U00010000", "\ufffd", "\ue000", "z", "\x7f", "\u0080"]
    hub = open_hub()
    for key in keys:
        hub.execute("db", Put("t", key, {}))
    assert [row["key"] for row in hub.execute("db", Scan("t", "", 10))] == sorted(keys)


def test_table_names_differing_in_case_are_different_tables(open_hub: OpenHub) -> None:
    hub = open_hub()
    hub.execute("db", Put("Users", "k", {"v": 1}))
    hub.execute("db", Put("users", "k", {"v": 2}))
    hub.execute("db", Put("sqlite_master", "k", {"v": 3}))
    assert [hub.execute("db", Get(t, "k")).one()["values"]["v"] for t in ("Users", "users", "sqlite_master")] == [
        1,
        2,
        3,
    ]


def test_concurrent_updates_of_one_record_lose_no_field(open_hub: OpenHub) -> None:
    hub = open_hub(pool={"max_size": 8})
    hub.execute("db", Put("t", "k", {}))

    def write(thread: int) -> None:
        for i in range(25):
            hub.execute("db", Update("t", "k", {f"f{thread}_{i}": i}))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hub.execute("db", Get("t", "k")).one()["values"]) == 8 * 25


def test_a_writer_blocked_by_a_transaction_fails_naming_busy_timeout(open_hub: OpenHub) -> None:
    hub = open_hub(options={"busy_timeout": 0})
    with hub.transaction("db") as tx:
        tx.execute(Put("t", "a", {}))
        with pytest.raises(dbplex.QueryError, match=r"database is locked .*options\.busy_timeout"):
            hub.execute("db", Put("t", "b", {}))
        assert hub.execute("db", Get("t", "a")).rows == []  # readers see the last commit
    assert hub.execute("db", Get("t", "a")).rows != []


def test_pool_wait_gives_up_with_pool_timeout(open_hub: OpenHub) -> None:
    hub = open_hub(pool={"min_size": 0, "max_size": 1, "timeout": 0.05})
    with hub.connection("db"), pytest.raises(dbplex.PoolTimeout, match=r"source 'db': no free connection within 0.05s"):
        hub.execute("db", Get("t", "k"))
    stats = hub.pool_stats()["db"]
    assert (stats.timeouts, stats.size, stats.used) == (1, 1, 0)


def test_connections_past_max_lifetime_are_closed_on_return(open_hub: OpenHub) -> None:
    hub = open_hub(pool={"min_size": 0, "max_lifetime": 0.001})
    with hub.connection("db"):
        time.sleep(0.01)
    assert hub.pool_stats()["db"].size == 0
    hub.execute("db", Get("t", "k"))
    assert hub.pool_stats()["db"].created == 2


def test_idle_connections_above_min_size_are_closed_after_max_idle(open_hub: OpenHub) -> None:
    hub = open_hub(pool={"min_size": 1, "max_idle": 0.001})
    with hub.connection("db"), hub.connection("db"):
        pass
    assert hub.pool_stats()["db"].size == 2
    time.sleep(0.01)
    hub.execute("db", Get("t", "k"))
    assert (hub.pool_stats()["db"].size, hub.pool_stats()["db"].idle) == (1, 1)


def test_connections_left_in_a_transaction_are_rolled_back_on_return(open_hub: OpenHub) -> None:
    hub = open_hub(pool={"max_size": 1})
    with hub.connection("db") as conn:
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE left_open (x)")
    with hub.connection("db") as conn:
        assert not conn.in_transaction
        assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'left_open'").fetchone()[0] == 0


def test_execute_op_runs_sql_from_json(open_hub: OpenHub) -> None:
    hub = open_hub()
    ops = hub.backend("db").ops
    created = hub.execute(
        "db", decode('{"op": "sqlite.execute", "sql": "CREATE TABLE notes (id INTEGER, body BLOB)"}', ops)
    )
    assert created.affected is None
    inserted = hub.execute(
        "db",
        decode(
            '{"op": "sqlite.execute", "sql": "INSERT INTO notes VALUES (?, ?), (?, ?)", "params": [1, "a", 2, "b"]}',
            ops,
        ),
    )
    assert inserted.affected == 2
    rows = hub.execute(
        "db", decode('{"op": "sqlite.execute", "sql": "SELECT id, body FROM notes ORDER BY id"}', ops)
    ).rows
    assert rows == [{"id": 1, "body": "a"}, {"id": 2, "body": "b"}]
    with pytest.raises(dbplex.QueryError, match="no such table: nope"):
        hub.execute("db", decode('{"op": "sqlite.execute", "sql": "SELECT * FROM nope"}', ops))


def test_a_wrapper_plugin_sees_every_sqlite_query(tmp_path: Path) -> None:
    seen: list[str] = []

    class Recorder:
        @hookimpl(wrapper=True)
        def dbplex_query(self, source: Any, conn: Any, op: Any) -> Generator[None, dbplex.Result, dbplex.Result]:
            result = yield
            seen.append(f"{source.name} {type(op).__name__} {len(result)}")
            return result

    loaded = plugins.load([Recorder()])
    with dbplex.open({"sources": {"db": {"url": f"sqlite:///{tmp_path}/app.db"}}}, plugins=loaded) as hub:
        hub.execute("db", Put("t", "k", {}))
        hub.execute("db", Get("t", "k"))
    assert seen == ["db Put 0", "db Get 1"]


def test_loading_the_plugin_imports_no_driver() -> None:
    code = "import sys, dbplex.plugins as p; p.load(); print('sqlite3' in sys.modules)"
    env = {**os.environ, "DBPLEX_PLUGINS": "sqlite", "DBPLEX_STRICT_PLUGINS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_every_declared_target_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ALLOW_ENV, "sqlite")
    monkeypatch.setenv(plugins.STRICT_ENV, "1")  # a bad target would raise here
    loaded = plugins.load()
    loaded.resolve()
    assert list(loaded.backends) == ["sqlite"]
    assert loaded.load_errors == []
