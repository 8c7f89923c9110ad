"""Pool settings, pool statistics (derived from pymongo's connection-pool events), health, and a lone client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import CursorType, MongoClient, monitoring
from pymongo.database import Database

import dbplex
from dbplex import Get, Put, Status
from dbplex.errors import ConfigError, PoolFull, PoolTimeout
from dbplex_mongo.client import connect as lone_client

Doc = dict[str, Any]


@pytest.fixture
def small_hub(mongo_url: str) -> Iterator[dbplex.Hub]:
    """One connection at most, and a short wait for it."""
    source = {
        "url": mongo_url,
        "connect_timeout": 3,
        "pool": {"min_size": 0, "max_size": 1, "timeout": 0.2, "max_idle": 30},
    }
    with dbplex.open({"sources": {"docs": source}}) as hub:
        yield hub


def test_pool_settings_configure_the_client(small_hub: dbplex.Hub) -> None:
    with small_hub.connection("docs") as db:
        options = db.client.options
    assert (options.pool_options.max_pool_size, options.pool_options.min_pool_size) == (1, 0)
    assert options.pool_options.wait_queue_timeout == 0.2
    assert options.pool_options.max_idle_time_seconds == 30
    assert options.pool_options.connect_timeout == 3
    assert options.server_selection_timeout == 3


def test_stats_count_driver_checkouts_and_connections(hub: dbplex.Hub, unique_table: str) -> None:
    for i in range(5):
        hub.execute("docs", Put(unique_table, f"k{i}", {"i": i}))
        hub.execute("docs", Get(unique_table, f"k{i}"))
    stats = hub.pool_stats()["docs"]
    assert (stats.source, stats.backend, stats.min, stats.max) == ("docs", "mongo", 1, 4)
    assert stats.acquired >= 10 and stats.wait.count == stats.acquired
    assert stats.use.count == stats.acquired and stats.use.total_ms > 0
    assert stats.created >= 1 and stats.create.count >= 1 and stats.size >= 1
    assert (stats.used, stats.pending, stats.idle) == (0, 0, stats.size)
    assert (stats.timeouts, stats.errors, stats.lost) == (0, 0, 0)


def test_a_held_connection_shows_as_used_and_the_next_caller_times_out(
    small_hub: dbplex.Hub, unique_table: str
) -> None:
    for i in range(3):
        small_hub.execute("docs", Put(unique_table, f"k{i}", {"i": i}))
    with small_hub.connection("docs") as db:
        # an exhaust cursor keeps its connection until it is read to the end or closed
        cursor = db[unique_table].find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
        next(cursor)
        stats = small_hub.pool_stats()["docs"]
        assert (stats.used, stats.idle) == (1, 0)
        with pytest.raises(
            PoolTimeout, match=r"source 'docs': no free connection within 0\.2s \(1 in use, at most 1\)"
        ):
            small_hub.execute("docs", Get(unique_table, "k0"))
        cursor.close()
    stats = small_hub.pool_stats()["docs"]
    assert stats.timeouts >= 1 and stats.used == 0
    assert small_hub.execute("docs", Get(unique_table, "k0")).one()["values"] == {"i": 0}


def test_closing_the_hub_closes_the_client(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("docs", Put(unique_table, "k", {"a": 1}))
    pool = hub.pool("docs")
    hub.close()
    assert pool.stats().size == 0
    assert hub.execute("docs", Get(unique_table, "k")).one()["values"] == {"a": 1}  # reopens lazily


def test_health_reports_version_topology_and_pool(hub: dbplex.Hub, raw_db: Database[Doc]) -> None:
    report = hub.health()
    (check,) = report.sources
    assert report.status is Status.UP and check.status is Status.UP
    assert check.server_version == raw_db.client.admin.command("buildInfo")["version"]
    assert check.details["topology"] in {"standalone", "replica_set", "sharded"}
    assert check.details["address"]
    assert check.pool is not None and (check.pool.source, check.pool.max) == ("docs", 4)


def test_a_lone_client_opens_a_separate_database_that_ops_run_on(hub: dbplex.Hub, unique_table: str) -> None:
    source = hub.sources["docs"]
    hooks = hub.plugins.hooks_for("mongo")
    db = lone_client(source)
    try:
        with hub.connection("docs") as pooled:
            assert isinstance(db, Database) and db.name == pooled.name and db.client is not pooled.client
        hooks.query(source=source, conn=db, op=Put(unique_table, "k", {"a": 1}))
        assert hooks.query(source=source, conn=db, op=Get(unique_table, "k")).one()["values"] == {"a": 1}
        assert isinstance(db.client, MongoClient) and db.client.options.pool_options.max_pool_size == 1
    finally:
        db.client.close()


def test_stats_come_from_one_documented_pool_listener_per_client(mongo_url: str, unique_table: str) -> None:
    """The client is configured by documented options only and observed by one ConnectionPoolListener."""

    def pool_listeners(hub: dbplex.Hub) -> list[object]:
        with hub.connection("docs") as db:
            return [x for x in db.client.options.event_listeners if isinstance(x, monitoring.ConnectionPoolListener)]

    with dbplex.open({"sources": {"docs": {"url": mongo_url}}}) as hub:
        (first,) = pool_listeners(hub)
        hub.execute("docs", Put(unique_table, "k", {"i": 1}))
        stats = hub.pool_stats()["docs"]
        assert stats.acquired >= 1 and stats.created >= 1 and stats.size >= 1
        hub.resize("docs", 1, 3)  # a new client: a listener of its own, counting into the same stats
        (second,) = pool_listeners(hub)
        assert second is not first
        hub.execute("docs", Get(unique_table, "k"))
        assert hub.pool_stats()["docs"].acquired > stats.acquired


def test_idle_connections_closed_by_max_idle_count_as_recycled(mongo_url: str, unique_table: str) -> None:
    pool = {"min_size": 0, "max_size": 2, "max_idle": 0.2}
    with dbplex.open({"sources": {"docs": {"url": mongo_url, "pool": pool}}}) as hub:
        hub.execute("docs", Put(unique_table, "k", {"i": 1}))
        assert hub.pool_stats()["docs"].size == 1
        deadline = time.monotonic() + 10  # pymongo reaps idle connections in its background task
        while hub.pool_stats()["docs"].size and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = hub.pool_stats()["docs"]
        assert (stats.size, stats.idle, stats.recycled, stats.lost) == (0, 0, 1, 0)


def test_a_checkout_held_past_the_leak_threshold_is_counted(mongo_url: str, unique_table: str) -> None:
    with dbplex.open({"sources": {"docs": {"url": mongo_url, "pool": {"leak_threshold": 0.1}}}}) as hub:
        hub.execute("docs", Put(unique_table, "k", {"i": 1}))
        with hub.connection("docs") as db:
            db[unique_table].insert_many([{"_id": i} for i in range(3)])
            cursor = db[unique_table].find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
            next(cursor)  # its connection stays checked out
            deadline = time.monotonic() + 5  # the maintenance thread sweeps every 0.05 s
            while hub.pool_stats()["docs"].leaks < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            cursor.close()
        stats = hub.pool_stats()["docs"]
        assert (stats.leaks, stats.used) == (1, 0)


def test_pending_counts_waiting_checkouts_and_bounds_max_waiting(mongo_url: str, unique_table: str) -> None:
    pool = {"min_size": 0, "max_size": 1, "timeout": 5, "max_waiting": 1}
    with dbplex.open({"sources": {"docs": {"url": mongo_url, "pool": pool}}}) as hub:
        for i in range(3):
            hub.execute("docs", Put(unique_table, f"k{i}", {"i": i}))
        with hub.connection("docs") as db:
            cursor = db[unique_table].find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
            next(cursor)  # holds the only connection
            waiter = threading.Thread(target=hub.execute, args=("docs", Get(unique_table, "k0")))
            waiter.start()
            deadline = time.monotonic() + 5
            while hub.pool_stats()["docs"].pending < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert hub.pool_stats()["docs"].pending == 1
            with pytest.raises(PoolFull, match=r"pool\.max_waiting = 1"):
                hub.execute("docs", Get(unique_table, "k1"))
            cursor.close()
            waiter.join(5)
        stats = hub.pool_stats()["docs"]
        assert (stats.pending, stats.used, stats.rejected) == (0, 0, 1)


def test_without_pool_statistics_no_listener_is_registered_and_timeouts_still_count(
    mongo_url: str, unique_table: str
) -> None:
    """``options.pool_statistics = false``: no pool events at all, ops as usual, and the stats
    keep what the plugin sees itself (bounds, timeouts, errors)."""
    source = {
        "url": mongo_url,
        "connect_timeout": 3,
        "options": {"pool_statistics": False},
        "pool": {"min_size": 0, "max_size": 1, "timeout": 0.2},
    }
    with dbplex.open({"sources": {"docs": source}}) as hub:
        for key in ("k", "k2", "k3"):
            hub.execute("docs", Put(unique_table, key, {"i": 1}))
        with hub.connection("docs") as db:
            assert not [
                x for x in db.client.options.event_listeners if isinstance(x, monitoring.ConnectionPoolListener)
            ]
            cursor = db[unique_table].find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
            next(cursor)  # holds the one connection
            # without the events the pool does not know how many are in use, and does not guess
            with pytest.raises(PoolTimeout, match=r"no free connection within 0\.2s \(at most 1\)$"):
                hub.execute("docs", Get(unique_table, "k"))
            cursor.close()
        assert hub.execute("docs", Get(unique_table, "k")).one()["values"] == {"i": 1}
        stats = hub.pool_stats()["docs"]
        assert (stats.min, stats.max, stats.timeouts, stats.errors) == (0, 1, 1, 0)
        assert (stats.size, stats.used, stats.acquired, stats.created, stats.wait.count) == (0, 0, 0, 0, 0)
        hub.resize("docs", 0, 2)  # a replaced client gets no listener either
        assert hub.execute("docs", Get(unique_table, "k")).rows
        assert hub.pool_stats()["docs"].max == 2


@pytest.mark.parametrize("setting", [{"leak_threshold": 5}, {"max_waiting": 2}])
def test_settings_that_need_the_pool_events_refuse_pool_statistics_off(mongo_url: str, setting: dict[str, Any]) -> None:
    source = {"url": mongo_url, "options": {"pool_statistics": False}, "pool": setting}
    with dbplex.open({"sources": {"docs": source}}) as hub:
        (name,) = setting
        with pytest.raises(ConfigError, match=rf"source 'docs': pool\.{name} needs pymongo's pool events"):
            hub.execute("docs", Get("t", "k"))
