"""Read routing over a real streaming replica: where reads and writes go, lag, read-your-writes, health."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import ConfigError
from dbplex.health import Status
from dbplex.routing import strategies
from tests.faults.conftest import eventually

psycopg = pytest.importorskip("psycopg")
from dbplex_pg.ops import SQL  # noqa: E402

PORT = SQL("SELECT inet_server_port() AS port")


def port_of(hub: dbplex.Hub, read: bool | None) -> int:
    return int(hub.execute("pg", PORT, read=read).scalar())


def routed_hub(drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub], **routing: Any) -> dbplex.Hub:
    source = {"url": drill.server("pg").url, "replicas": [drill.server("pg-replica1").url], "routing": routing}
    return open_hub({"pg": source})


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = routed_hub(drill, open_hub)
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port
    assert port_of(hub, read=True) == replica
    assert port_of(hub, read=None) == primary  # a statement is a write unless marked read
    assert port_of(hub, read=False) == primary
    hub.execute("pg", Put("routing", "k", {"n": 1}))
    eventually(lambda: hub.execute("pg", Get("routing", "k")).rows, 10, "the replica replays the write")
    stats = hub.pool_stats()
    assert stats["pg/replica1"].acquired >= 2 and stats["pg"].acquired >= 3
    with hub.transaction("pg") as tx:
        assert int(tx.execute(PORT).scalar()) == primary


def test_read_your_writes_keeps_this_thread_on_the_primary(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = routed_hub(drill, open_hub, read_your_writes=30)
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port
    assert port_of(hub, read=True) == replica
    hub.execute("pg", Put("routing", "ryw", {"n": 1}))
    assert hub.execute("pg", Get("routing", "ryw")).one()["values"] == {"n": 1}  # read on the primary: no lag
    assert port_of(hub, read=True) == primary
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(port_of(hub, read=True)))
    thread.start()
    thread.join()
    assert other == [replica]  # another thread has written nothing


def test_a_lagging_replica_gets_no_reads(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = routed_hub(drill, open_hub, max_lag=0.5, lag_check_interval=0.1)
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port
    assert port_of(hub, read=True) == replica
    with psycopg.connect(drill.server("pg-replica1").url, autocommit=True) as admin:
        admin.execute("SELECT pg_wal_replay_pause()")
        try:
            hub.execute("pg", Put("routing", "lag", {"n": 1}))  # not replayed: the replica falls behind
            eventually(lambda: port_of(hub, read=True) == primary, 10, "reads leave the lagging replica")
            replica_health = hub.health(["pg"]).sources[0].replicas[0]
            assert replica_health.status is Status.DEGRADED and replica_health.lag_seconds is not None
            assert "exceeds max_lag 0.5s" in (replica_health.error or "")
        finally:
            admin.execute("SELECT pg_wal_replay_resume()")
    eventually(lambda: port_of(hub, read=True) == replica, 10, "reads return once it caught up")


def test_health_reports_each_replica(drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]) -> None:
    hub = routed_hub(drill, open_hub)
    check = hub.health().sources[0]
    assert check.status is Status.UP and check.details["role"] == "primary" and check.lag_seconds is None
    [replica] = check.replicas
    assert replica.source == "pg/replica1" and replica.status is Status.UP
    assert replica.details["role"] == "replica" and replica.breaker == "closed"
    assert replica.lag_seconds is not None and replica.lag_seconds >= 0


def test_replicas_must_share_the_primary_scheme() -> None:
    with pytest.raises(ConfigError, match="replica 'redis://h/0' must use the primary's URL scheme 'postgresql://'"):
        dbplex.config.from_dict({"sources": {"pg": {"url": "postgresql://h/db", "replicas": ["redis://h/0"]}}})


class _Candidate:
    def __init__(self, name: str, in_flight: int = 0, latency_ms: float = 0.0) -> None:
        self.name, self.in_flight, self.latency_ms = name, in_flight, latency_ms


def test_strategies_order_the_replicas() -> None:
    a, b, c = _Candidate("a", 3, 9.0), _Candidate("b", 1, 1.0), _Candidate("c", 2, 2.0)
    turns = strategies.make("round_robin", 0)
    assert [turns([a, b, c])[0].name for _ in range(4)] == ["a", "b", "c", "a"]
    assert [r.name for r in strategies.make("least_used", 0)([a, b, c])] == ["b", "c", "a"]
    window = strategies.make("latency_window", 1.5)
    firsts = {window([a, b, c])[0].name for _ in range(200)}
    assert firsts == {"b", "c"}  # a (9 ms) is outside 1.5 ms of the fastest (1 ms)


def test_a_forked_child_routes_reads_whatever_locks_the_parent_held(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    """Locks held by another thread of the parent at fork() are held forever in the child: the
    router makes new ones there (in-flight counts and breakers)."""
    import os
    import time

    hub = routed_hub(drill, open_hub, breaker={"failures": 1, "reset_after": 60})
    replica_port = drill.server("pg-replica1").port
    assert port_of(hub, read=True) == replica_port
    router = hub._bound["pg"].router  # white-box: the locks a parent thread could be holding
    assert router is not None
    replica = router.replicas[0]
    with replica._flight, replica.breaker._lock:  # as if a reader thread held them right now
        child = os.fork()
        if child == 0:
            status = 1
            try:
                status = 0 if port_of(hub, read=True) == replica_port else 2
                replica.breaker.failure()  # takes the breaker's lock
            finally:
                os._exit(status)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(child, 9)
            os.waitpid(child, 0)
            pytest.fail("the child hung on a lock inherited from the parent")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_the_primary_reports_its_streaming_replica_s_lag_and_the_replica_its_own_resources(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = routed_hub(drill, open_hub)
    check = hub.health().sources[0]
    assert check.resources is not None and check.replicas[0].resources is not None
    with psycopg.connect(drill.server("pg").url, autocommit=True) as primary:
        streaming = primary.execute(
            "SELECT host(client_addr) || ':' || client_port FROM pg_stat_replication WHERE state = 'streaming'"
        ).fetchall()
    assert sorted(check.resources.replica_lag_seconds) == sorted(row[0] for row in streaming) and streaming
    assert all(lag >= 0 for lag in check.resources.replica_lag_seconds.values())
    replica = check.replicas[0].resources
    assert replica.replica_lag_seconds == {} and replica.database_bytes and replica.connections
