"""Health per source and the pool's stats, on the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import dbplex
from dbplex import Get, Put, Status
from dbplex.errors import PoolTimeout, SourceUnavailable


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_health_reports_version_role_and_pool(hub: dbplex.Hub, raw: psycopg.Connection[Any]) -> None:
    (check,) = hub.health().sources
    assert check.status is Status.UP and check.error is None
    assert check.server_version == raw.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    assert check.details["role"] == "primary" and check.details["database"] == raw.info.dbname
    assert check.pool is not None and check.pool.source == "pg" and check.pool.backend == "pg"


def test_stats_follow_checkouts(make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 3})
    with hub.connection("pg"), hub.connection("pg"):
        stats = hub.pool_stats()["pg"]
        assert stats.used == 2 and stats.size >= 2 and stats.idle == stats.size - 2
    stats = hub.pool_stats()["pg"]
    assert stats.used == 0 and stats.idle == stats.size
    assert stats.acquired == stats.wait.count == stats.use.count >= 2
    assert stats.created == stats.create.count >= 2 and stats.create.max_ms > 0
    assert (stats.min, stats.max, stats.timeouts, stats.errors, stats.lost) == (1, 3, 0, 0, 0)


def test_an_exhausted_pool_times_out_naming_the_source(make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1, "timeout": 2})
    failures: list[PoolTimeout] = []

    def borrow() -> None:
        try:
            hub.execute("pg", Get("t", "k"))
        except PoolTimeout as exc:
            failures.append(exc)

    with hub.connection("pg"):
        thread = threading.Thread(target=borrow)
        thread.start()
        assert wait_until(lambda: hub.pool_stats()["pg"].pending == 1)
        thread.join()
    assert [str(e) for e in failures] == ["source 'pg': no free connection within 2s (1 in use, at most 1)"]
    stats = hub.pool_stats()["pg"]
    assert (stats.timeouts, stats.pending, stats.used) == (1, 0, 0)


def test_an_idle_connection_killed_by_the_server_is_never_handed_out(
    make_hub: Callable[..., dbplex.Hub], unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1})
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    with hub.connection("pg") as conn:
        pid = conn.info.backend_pid
    raw.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits until the backend is gone
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"n": 1}
    assert hub.pool_stats()["pg"].lost == 1


def test_a_connection_killed_while_in_use_is_reported_and_replaced(
    make_hub: Callable[..., dbplex.Hub], unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1})
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    with hub.connection("pg") as conn:
        raw.execute("SELECT pg_terminate_backend(%s, 10000)", [conn.info.backend_pid])
        with pytest.raises(SourceUnavailable, match="source 'pg': connection lost: .*terminating connection"):
            hub.plugins.hooks_for("pg").query(source=hub.sources["pg"], conn=conn, op=Get(unique_table, "k"))
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"n": 1}
    assert hub.pool_stats()["pg"].lost == 1


def test_connections_carry_the_application_name(make_hub: Callable[..., dbplex.Hub], pg_url: str) -> None:
    hub = make_hub(options={"application_name": "dbplex-tests"})
    with hub.connection("pg") as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("dbplex-tests",)
    separator = "&" if "?" in pg_url else "?"
    from_url = make_hub(url=f"{pg_url}{separator}application_name=from-url", options={"application_name": "ignored"})
    with from_url.connection("pg") as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("from-url",)


def test_the_connect_hook_gives_a_connector_that_opens_lone_autocommit_connections(hub: dbplex.Hub) -> None:
    connector = hub.plugins.hooks_for("pg").connector(hub.sources["pg"])
    conn = connector.open()
    try:
        assert isinstance(conn, psycopg.Connection) and conn.autocommit
        assert connector.usable(conn) and conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        connector.close(conn)
    assert not connector.usable(conn)
    assert hub.pool_stats() == {}  # no pool was opened for it


@pytest.mark.parametrize("prepared", [True, False])
def test_repeated_record_ops_run_prepared_unless_turned_off(
    make_hub: Callable[..., dbplex.Hub], unique_table: str, prepared: bool
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1}, options={"prepared_statements": prepared})
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    for _ in range(6):
        hub.execute("pg", Get(unique_table, "k"))
    with hub.connection("pg") as conn:
        statements = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert any(unique_table in s and s.startswith("SELECT data") for (s,) in statements) is prepared
