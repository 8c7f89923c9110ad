"""Pools under pressure: exhausted by held connections (the leak detector names the holder), and
connections the server closed while idle."""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import PoolTimeout
from tests.faults.conftest import eventually, figure

TIMEOUT = 1.0


def waiters_time_out(hub: dbplex.Hub, source: str, count: int) -> list[tuple[float, BaseException | None]]:
    """Run ``count`` callers at once; each has queued for a connection (pending) before any outcome."""
    outcomes: list[tuple[float, BaseException | None]] = []

    def wait() -> None:
        started = time.monotonic()
        try:
            hub.execute(source, Get("limits", "k"))
        except Exception as exc:  # checked by the caller
            outcomes.append((time.monotonic() - started, exc))
        else:
            outcomes.append((time.monotonic() - started, None))

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    eventually(lambda: hub.pool_stats()[source].pending == count or outcomes, 5, "every caller queued")
    queued_before_any_outcome = not outcomes
    for thread in threads:
        thread.join()
    assert queued_before_any_outcome  # they waited for a connection: none failed before all had queued
    assert hub.pool_stats()[source].pending == 0  # and none is left queued after giving up
    return outcomes


LEAK = 0.3  # seconds: the held connections below are reported as leaks well before the waiters give up


def here(below: int) -> str:
    """``file:line in function`` of the caller's line ``below`` lines down, as the leak detector names a holder."""
    frame = inspect.stack()[1]
    return f"{os.path.relpath(frame.filename)}:{frame.lineno + below} in {frame.function}"


def assert_leaks_named(caplog: pytest.LogCaptureFixture, source: str, holder: str) -> None:
    reports = [r.getMessage() for r in caplog.records if r.name == "dbplex.pool" and "has been held" in r.getMessage()]
    assert len(reports) == 2, reports
    for report in reports:
        assert report.startswith(f"source {source!r}: a connection has been held for ")
        assert report.endswith(f"(pool.leak_threshold 0.3s); taken at {holder}")


def test_pg_pool_exhausted_by_held_connections(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub], caplog: pytest.LogCaptureFixture
) -> None:
    pool = {"min_size": 2, "max_size": 2, "timeout": TIMEOUT, "leak_threshold": LEAK}
    hub = open_hub({"pg": {"url": drill.server("pg").url, "pool": pool}})
    caplog.set_level(logging.WARNING, logger="dbplex.pool")
    with ExitStack() as held:
        holder = here(2)
        for _ in range(2):
            held.enter_context(hub.connection("pg"))
        outcomes = waiters_time_out(hub, "pg", 3)
    for _, exc in outcomes:
        assert isinstance(exc, PoolTimeout), exc
        message = str(exc)
        assert message.startswith("source 'pg': no free connection within 1s (2 in use, at most 2); held longest (")
        assert message.endswith(f"s) by {holder} (and 1 more)")  # the leak detector names the holder
    figure("pg waiter timeout (configured 1 s)", max(e for e, _ in outcomes))
    stats = hub.pool_stats()["pg"]
    assert stats.timeouts == 3 and stats.leaks == 2 and stats.rejected == 0
    assert stats.acquired == 2  # the two held: no waiter got a connection
    assert_leaks_named(caplog, "pg", holder)
    hub.execute("pg", Put("limits", "k", {"after": True}))  # released connections serve again


def test_redis_pool_exhausted_by_held_connections(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub], caplog: pytest.LogCaptureFixture
) -> None:
    pool_config = {"max_size": 2, "timeout": TIMEOUT, "leak_threshold": LEAK}
    hub = open_hub({"redis": {"url": drill.server("redis").url, "pool": pool_config}})
    caplog.set_level(logging.WARNING, logger="dbplex.pool")
    with hub.connection("redis") as client:  # the client borrows a connection per command: hold two
        pool = client.connection_pool
        holder = here(1)
        held = [pool.get_connection(), pool.get_connection()]
    try:
        outcomes = waiters_time_out(hub, "redis", 3)
    finally:
        for conn in held:
            pool.release(conn)
    for _, exc in outcomes:
        assert isinstance(exc, PoolTimeout), exc
        message = str(exc)
        assert "source 'redis': no connection became free within 1s (all 2 in use" in message
        assert message.endswith(f"s) by {holder} (and 1 more)")
    figure("redis waiter timeout (configured 1 s)", max(e for e, _ in outcomes))
    assert hub.pool_stats()["redis"].leaks == 2
    assert_leaks_named(caplog, "redis", holder)
    hub.execute("redis", Put("limits", "k", {"after": True}))


def test_pg_connections_closed_by_idle_session_timeout(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    url = (
        drill.server("pg").url + "?options=-c%20idle_session_timeout%3D300"
    )  # the server drops idle sessions after 0.3 s
    hub = open_hub({"pg": {"url": url, "pool": {"min_size": 3, "max_size": 3}}})
    hub.execute("pg", Put("limits", "idle", {"n": 1}))
    for _ in range(3):
        time.sleep(0.8)  # every pooled connection has been closed by the server by now
        lost = hub.pool_stats()["pg"].lost
        assert hub.execute("pg", Get("limits", "idle")).one()["values"] == {"n": 1}  # never a dead connection
        assert hub.pool_stats()["pg"].lost > lost  # it did meet (and skip) a connection the server had closed


def test_redis_connections_closed_by_server_timeout(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    redis = pytest.importorskip("redis")
    admin = redis.Redis.from_url(drill.server("redis").url)
    admin.config_set("timeout", 1)
    try:
        hub = open_hub({"redis": {"url": drill.server("redis").url, "pool": {"min_size": 3, "max_size": 3}}})
        hub.execute("redis", Put("limits", "idle", {"n": 1}))
        for _ in range(2):
            created = hub.pool_stats()["redis"].created
            time.sleep(2.5)  # Redis closes clients idle for more than 1 s (checked from its cron)
            assert hub.execute("redis", Get("limits", "idle")).one()["values"] == {"n": 1}  # never a dead connection
            assert hub.pool_stats()["redis"].created > created  # the closed connection was replaced
    finally:
        admin.config_set("timeout", 0)
        admin.close()
