"""The pool on a real server: sizes, counters, waits, broken and aged connections, health."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

import dbplex
import dbplex_redis.pool
from dbplex import Get, Put, Status
from dbplex.errors import PoolTimeout
from dbplex_redis import Command

from .conftest import wait_until


def client_id(hub: dbplex.Hub) -> int:
    return int(hub.execute("r", Command(["CLIENT", "ID"])).one()["value"])


def test_min_size_connections_open_with_the_pool(make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(pool={"min_size": 3, "max_size": 5})
    assert wait_until(lambda: hub.pool("r").stats().size == 3)  # one at once, the others in the background
    stats = hub.pool("r").stats()
    assert (stats.size, stats.idle, stats.used, stats.min, stats.max) == (3, 3, 0, 3, 5)
    assert (stats.created, stats.acquired, stats.errors) == (3, 0, 0)
    assert stats.create.count == 3


def test_every_command_is_one_checkout(hub: dbplex.Hub, unique_table: str) -> None:
    # the first Put on a fresh server also sends the script in full (EVALSHA answered NOSCRIPT)
    hub.execute("r", Put(unique_table, "warm", {"i": 0}))
    before = hub.pool("r").stats()
    for i in range(3):
        hub.execute("r", Put(unique_table, f"k{i}", {"i": i}))
    stats = hub.pool("r").stats()
    assert stats.acquired - before.acquired == 3
    assert stats.wait.count - before.wait.count == 3 and stats.use.count - before.use.count == 3


def test_waiting_callers_are_pending_then_time_out(
    make_hub: Callable[..., dbplex.Hub], prefix: str, unique_table: str
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1, "timeout": 0.3})
    outcome: list[BaseException] = []
    with dbplex_redis.subscribe(hub, "r", [f"{prefix}hold"]):  # holds the only connection
        waiter = threading.Thread(
            target=lambda: outcome.extend(_raises(lambda: hub.execute("r", Get(unique_table, "k"))))
        )
        waiter.start()
        assert wait_until(lambda: hub.pool("r").stats().pending == 1 or not waiter.is_alive())
        waiter.join()
    (error,) = outcome
    assert isinstance(error, PoolTimeout)
    assert "source 'r': no free connection within 0.3s" in str(error)
    stats = hub.pool("r").stats()
    assert stats.timeouts == 1 and stats.pending == 0


def _raises(call: Callable[[], object]) -> list[BaseException]:
    try:
        call()
    except BaseException as exc:
        return [exc]
    return []


def test_a_waiting_caller_gets_the_connection_when_it_is_freed(
    make_hub: Callable[..., dbplex.Hub], prefix: str, unique_table: str
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1, "timeout": 30})
    results: list[dbplex.Result] = []
    subscription = dbplex_redis.subscribe(hub, "r", [f"{prefix}hold"])
    waiter = threading.Thread(target=lambda: results.append(hub.execute("r", Get(unique_table, "k"))))
    waiter.start()
    assert wait_until(lambda: hub.pool("r").stats().pending == 1)
    subscription.close()
    waiter.join(30)
    assert results and results[0].rows == []


def test_a_connection_killed_by_the_server_is_replaced_and_counted_lost(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, unique_table: str
) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1})
    killed = client_id(hub)
    raw.client_kill_filter(_id=str(killed))
    assert hub.execute("r", Get(unique_table, "k")).rows == []
    assert client_id(hub) != killed
    stats = hub.pool("r").stats()
    assert stats.lost == 1 and stats.created == 2 and stats.size == 1


def test_connections_older_than_max_lifetime_are_replaced(make_hub: Callable[..., dbplex.Hub]) -> None:
    hub = make_hub(pool={"min_size": 1, "max_size": 1, "max_lifetime": 0.05})
    first = client_id(hub)
    time.sleep(0.1)  # the idle connection outlives max_lifetime: the next checkout replaces it
    second = client_id(hub)
    assert second != first
    stats = hub.pool("r").stats()
    # (the housekeeper may replace it too, in the background)
    assert stats.created >= 2 and stats.lost == 0 and stats.recycled >= 1


def test_closing_the_hub_closes_the_pooled_connections(make_hub: Callable[..., dbplex.Hub], raw: redis.Redis) -> None:
    hub = make_hub()
    with hub.connection("r") as client:  # a redis.Redis on one pooled connection, the caller's for the block
        assert isinstance(client, redis.Redis)
        held = client.client_id()
    hub.close()
    assert wait_until(lambda: all(int(c["id"]) != held for c in raw.client_list()))


def test_a_lone_client_has_one_connection_of_its_own(hub: dbplex.Hub) -> None:
    client = dbplex_redis.pool.connect(hub.sources["r"])
    try:
        assert isinstance(client, redis.Redis) and client.ping()
    finally:
        dbplex_redis.pool.close(client)


def test_health_reports_version_mode_role_and_pool(hub: dbplex.Hub, raw: redis.Redis) -> None:
    (check,) = hub.health().sources
    server = raw.info("server")
    assert check.status is Status.UP and check.server_version == server["redis_version"]
    assert check.details == {"mode": server["redis_mode"], "role": raw.info("replication")["role"]}
    assert check.pool is not None and check.pool.source == "r" and check.pool.used == 0


def test_health_of_a_stalled_server_is_down_within_connect_timeout(
    private_server: Path, make_hub: Callable[..., dbplex.Hub]
) -> None:
    hub = make_hub(url=f"unix://{private_server}", connect_timeout=0.3)
    assert hub.health().status is Status.UP  # the pool's connection is open
    hub.execute("r", Command(["CLIENT", "PAUSE", 1500, "ALL"]))  # a private server: stalling it hurts nobody
    (check,) = hub.health().sources
    assert check.status is Status.DOWN and check.error and "did not answer within 0.3s" in check.error
    assert wait_until(lambda: hub.health().status is Status.UP)
