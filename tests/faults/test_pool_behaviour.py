"""Pool behaviour that is the same on every backend (issue 5, item 1), on the drill's real servers.

Bounded wait queue, lifetime recycling, idle reaping, keepalive, fork safety, resize, and
reconnection that never gives up while health reports DOWN.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import PoolFull, SourceUnavailable
from dbplex.health import Status
from tests.faults.conftest import eventually, figure, restart_if_stopped

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")

Hub = Callable[[dict[str, Any]], dbplex.Hub]


@contextmanager
def holding(hub: dbplex.Hub, source: str, count: int) -> Iterator[list[Any]]:
    """Hold ``count`` pooled connections of ``source``: psycopg connections, or redis-py clients of one connection each."""
    with ExitStack() as stack:
        yield [stack.enter_context(hub.connection(source)) for _ in range(count)]


def session_ids(hub: dbplex.Hub, source: str, count: int) -> set[int]:
    """The server-side ids of ``count`` pooled connections (backend pids, or Redis client ids)."""
    with holding(hub, source, count) as conns:
        if source == "pg":
            return {conn.info.backend_pid for conn in conns}
        return {int(client.client_id()) for client in conns}


def url_of(drill: sandbox.Sandbox, source: str) -> str:
    return drill.server(source).url


@pytest.mark.parametrize("source", ["pg", "redis"])
def test_a_full_wait_queue_turns_callers_away_at_once(drill: sandbox.Sandbox, open_hub: Hub, source: str) -> None:
    pool = {"min_size": 1, "max_size": 1, "timeout": 10, "max_waiting": 1}
    hub = open_hub({source: {"url": url_of(drill, source), "pool": pool}})
    results: list[object] = []
    with holding(hub, source, 1):
        waiter = threading.Thread(target=lambda: results.append(hub.execute(source, Get("behaviour", "k"))))
        waiter.start()
        eventually(lambda: hub.pool_stats()[source].pending == 1, 5, "one caller waiting")
        started = time.monotonic()
        with pytest.raises(PoolFull) as raised:
            hub.execute(source, Get("behaviour", "k"))
        elapsed = time.monotonic() - started
        # turned away at once: the connection is still held and the admitted caller still waits for it
        assert not results and hub.pool_stats()[source].pending == 1
    waiter.join(10)
    assert str(raised.value) == (
        f"source {source!r}: no free connection and the wait queue is full (pool.max_waiting = 1); "
        "raise pool.max_size or pool.max_waiting, or shed load"
    )
    figure(f"{source}: caller turned away by max_waiting after", elapsed)
    assert len(results) == 1  # the admitted waiter got the connection once it was released
    stats = hub.pool_stats()[source]
    assert stats.rejected == 1 and stats.timeouts == 0


@pytest.mark.parametrize("source", ["pg", "redis"])
def test_connections_are_replaced_after_their_jittered_lifetime(
    drill: sandbox.Sandbox, open_hub: Hub, source: str
) -> None:
    pool = {"min_size": 2, "max_size": 2, "max_lifetime": 0.5, "lifetime_jitter": 0.5}
    hub = open_hub({source: {"url": url_of(drill, source), "pool": pool}})
    before = session_ids(hub, source, 2)
    time.sleep(0.6)  # both idle connections outlive their lifetime (0.25-0.5 s)
    after = session_ids(hub, source, 2)  # replaced at checkout: never handed out past their lifetime
    assert not before & after
    stats = hub.pool_stats()[source]
    assert stats.recycled >= 2 and stats.lost == 0
    hub.execute(source, Put("behaviour", "lifetime", {"ok": True}))


def test_redis_idle_connections_above_min_size_are_reaped(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    # keepalive pings more often than max_idle: a ping is not a use, so reaping still happens
    pool = {"min_size": 1, "max_size": 4, "max_idle": 0.3, "keepalive": 0.05}
    hub = open_hub({"redis": {"url": url_of(drill, "redis"), "pool": pool}})
    session_ids(hub, "redis", 4)  # four connections open, then idle
    assert hub.pool_stats()["redis"].size == 4
    waited = eventually(lambda: hub.pool_stats()["redis"].size == 1, 10, "idle connections reaped down to min_size")
    figure("redis: idle connections reaped after (max_idle 0.3 s)", waited)
    assert hub.pool_stats()["redis"].recycled == 3
    hub.execute("redis", Put("behaviour", "reaped", {"ok": True}))


def test_a_dropped_redis_pool_stops_its_maintenance_thread(drill: sandbox.Sandbox) -> None:
    """A pool dropped unclosed (as a forked child's hub drops its parent's) stops maintaining itself
    as soon as it is collected, not at its next round. Collected explicitly: on some redis-py
    releases (5.0) the frames of the first connect outlive it until the cyclic collector runs."""
    import gc

    from dbplex.pooling import ConnectorPool
    from dbplex_redis.connector import RedisConnector

    hub = dbplex.open({"sources": {"redis": {"url": url_of(drill, "redis"), "pool": {"min_size": 1}}}})
    try:
        before = set(threading.enumerate())
        gc.disable()
        try:
            source = hub.sources["redis"]
            pool = ConnectorPool(source, RedisConnector(source))
            with pool.connection() as client:
                client.ping()
            (thread,) = set(threading.enumerate()) - before
            del pool
            gc.collect()
            thread.join(5)  # not its next round, 60 s away (keepalive's default)
            assert not thread.is_alive()
        finally:
            gc.enable()
    finally:
        hub.close()


def test_pg_keepalive_replaces_connections_the_server_killed(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    pool = {"min_size": 2, "max_size": 2, "keepalive": 0.3}
    hub = open_hub({"pg": {"url": url_of(drill, "pg"), "pool": pool}})
    victims = session_ids(hub, "pg", 2)
    with psycopg.connect(url_of(drill, "pg"), autocommit=True) as admin:
        for pid in victims:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # no checkout in between: the keepalive round finds them dead and opens replacements
    eventually(lambda: hub.pool_stats()["pg"].lost >= 2, 10, "keepalive noticed the killed connections")
    eventually(lambda: hub.pool_stats()["pg"].idle == 2, 10, "replacements opened")
    assert not session_ids(hub, "pg", 2) & victims


def test_redis_keepalive_replaces_connections_the_server_killed(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    pool = {"min_size": 2, "max_size": 2, "keepalive": 0.3}
    hub = open_hub({"redis": {"url": url_of(drill, "redis"), "pool": pool}})
    victims = session_ids(hub, "redis", 2)
    created = hub.pool_stats()["redis"].created
    admin = redis.Redis.from_url(url_of(drill, "redis"))
    try:
        for client_id in victims:
            admin.client_kill_filter(_id=client_id)
    finally:
        admin.close()
    eventually(lambda: hub.pool_stats()["redis"].lost >= 2, 10, "keepalive noticed the killed connections")
    eventually(lambda: hub.pool_stats()["redis"].created >= created + 2, 10, "min_size connections reopened")
    assert not session_ids(hub, "redis", 2) & victims


def test_a_forked_child_gets_pools_of_its_own(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    pool = {"min_size": 1, "max_size": 1}
    hub = open_hub({name: {"url": url_of(drill, name), "pool": pool} for name in ("pg", "redis")})
    for name in ("pg", "redis"):
        hub.execute(name, Put("behaviour", "fork", {"from": "parent"}))
    parent = {name: session_ids(hub, name, 1) for name in ("pg", "redis")}
    child = os.fork()
    if child == 0:  # the child: use the hub, report through the exit status only
        status = 1
        try:
            mine = {name: session_ids(hub, name, 1) for name in ("pg", "redis")}
            values = [hub.execute(name, Get("behaviour", "fork")).one()["values"] for name in ("pg", "redis")]
            fresh = all(not mine[name] & parent[name] for name in mine)
            status = 0 if fresh and values == [{"from": "parent"}] * 2 else 2
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0  # 2: the child reused the parent's connections
    # the parent's own connections survived the child (it neither used nor closed them)
    assert {name: session_ids(hub, name, 1) for name in ("pg", "redis")} == parent
    for name in ("pg", "redis"):
        assert hub.execute(name, Get("behaviour", "fork")).rows


@pytest.mark.parametrize("source", ["pg", "redis"])
def test_pools_resize_while_running(drill: sandbox.Sandbox, open_hub: Hub, source: str) -> None:
    # surplus idle connections close at once on a shrink; checked-out ones as they come back
    pool = {"min_size": 1, "max_size": 1, "timeout": 2, "max_idle": 0.3}
    hub = open_hub({source: {"url": url_of(drill, source), "pool": pool}})
    hub.execute(source, Put("behaviour", "resize", {"n": 1}))
    hub.resize(source, 2, 3)
    stats = hub.pool_stats()[source]
    assert (stats.min, stats.max) == (2, 3)
    eventually(lambda: hub.pool_stats()[source].size >= 2, 10, "grown to the new min_size")
    assert len(session_ids(hub, source, 3)) == 3  # three at once: no PoolTimeout
    hub.resize(source, 1, 1)
    stats = hub.pool_stats()[source]
    assert (stats.min, stats.max) == (1, 1)
    eventually(lambda: hub.pool_stats()[source].size <= 1, 10, "shrunk to the new max_size")
    assert hub.execute(source, Get("behaviour", "resize")).one()["values"] == {"n": 1}
    with pytest.raises(dbplex.ConfigError, match="resize needs 0 <= min_size <= max_size"):
        hub.resize(source, 2, 1)


@pytest.mark.parametrize("source", ["redis", "pg"])
def test_reconnection_never_gives_up_while_health_reports_down(
    drill: sandbox.Sandbox, open_hub: Hub, source: str
) -> None:
    pool = {"min_size": 1, "max_size": 2, "timeout": 3, "reconnect_min": 0.1, "reconnect_max": 0.5}
    hub = open_hub({source: {"url": url_of(drill, source), "connect_timeout": 1, "pool": pool}})
    hub.execute(source, Put("behaviour", "down", {"n": 1}))
    try:
        sandbox.stop_server(drill.directory, source)
        with pytest.raises(SourceUnavailable, match=f"source '{source}'"):
            hub.execute(source, Get("behaviour", "down"))
        report = hub.health()
        assert report.status is Status.DOWN and not report.ready
        assert "connection refused" in (report.sources[0].error or "")
        # the pool knows the server is down: callers fail at once with the reason, not after pool.timeout
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=f"source '{source}'.*connection refused") as failed:
            hub.execute(source, Get("behaviour", "down"))
        figure(f"{source}: a checkout while the server is down fails after", time.monotonic() - started)
        assert "PoolTimeout" not in type(failed.value).__name__
        stats = hub.pool_stats()[source]
        assert stats.timeouts == 0 and stats.pending == 0  # it never queued for a connection
        errors = hub.pool_stats()[source].errors
        time.sleep(2.0)  # four times reconnect_max: a pool that gave up would stop counting attempts
        health = hub.health().sources[0]
        assert health.status is Status.DOWN
        assert hub.pool_stats()[source].errors > errors  # still trying, in the background
        sandbox.start_server(drill.directory, source)
        back = time.monotonic()

        def serves() -> bool:
            try:
                hub.execute(source, Put("behaviour", "down", {"n": 2}))  # (the sandbox's Redis keeps no data)
            except SourceUnavailable:
                return False
            return True

        eventually(serves, 15, "the pool serves again")
        figure(f"{source}: server accepting connections -> pool serving", time.monotonic() - back)
        assert hub.health().sources[0].status is Status.UP
    finally:
        restart_if_stopped(drill, source)
