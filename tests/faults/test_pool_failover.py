"""Pools after a failover: a Redis server turned replica (READONLY) evicts its pool; multi-host
PostgreSQL URLs with ``target_session_attrs`` reach the writable server wherever it is listed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest

import dbplex
from dbplex import Get, Put, sandbox, secrets
from dbplex.errors import QueryError, SourceUnavailable
from dbplex.health import Status
from dbplex.sandbox import redis_server
from tests.faults.conftest import eventually

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")
from dbplex_pg.ops import SQL  # noqa: E402

Hub = Callable[[dict[str, Any]], dbplex.Hub]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def second_redis() -> Iterator[str]:
    """A redis-server of the test's own (no persistence), to be turned into a replica; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dbplex-readonly-") as directory:
        args = [
            str(redis_server.binary()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            directory,
        ]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            probe = redis.Redis.from_url(url)

            def answers() -> bool:
                try:
                    return bool(probe.ping())
                except redis.ConnectionError:
                    return False

            eventually(answers, 10, "the second redis-server answers")
            probe.close()
            yield url
        finally:
            process.terminate()
            process.wait(10)


def client_ids(hub: dbplex.Hub, source: str, count: int) -> set[int]:
    """The server-side ids of ``count`` pooled connections, held at once."""
    with ExitStack() as stack:
        return {int(stack.enter_context(hub.connection(source)).client_id()) for _ in range(count)}


def test_redis_pool_is_evicted_when_its_server_turns_replica(
    drill: sandbox.Sandbox, open_hub: Hub, second_redis: str
) -> None:
    hub = open_hub({"r": {"url": second_redis, "pool": {"min_size": 2, "max_size": 2}}})
    hub.execute("r", Put("failover", "k", {"n": 1}))
    before = client_ids(hub, "r", 2)
    master = urlsplit(drill.server("redis").url)
    admin = redis.Redis.from_url(second_redis)
    try:
        admin.replicaof(master.hostname, master.port)  # what a failover does to the old master
        with pytest.raises(QueryError, match="You can.t write against a read only replica"):
            hub.execute("r", Put("failover", "k", {"n": 2}))
        # every pooled connection was replaced: none of the old sessions is handed out again
        assert not client_ids(hub, "r", 2) & before
        assert hub.pool_stats()["r"].recycled >= 2
        hub.execute("r", Get("failover", "k"))  # reads still work on the replica
        admin.replicaof("NO", "ONE")  # promoted again (or: the address now leads to the new master)
        hub.execute("r", Put("failover", "k", {"n": 3}))
        assert hub.execute("r", Get("failover", "k")).one()["values"] == {"n": 3}
    finally:
        admin.replicaof("NO", "ONE")
        admin.close()


def test_a_server_that_stays_a_replica_does_not_cause_a_reconnect_storm(
    drill: sandbox.Sandbox, open_hub: Hub, second_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    pool = {"min_size": 2, "max_size": 2, "reconnect_min": 30, "reconnect_max": 60}
    hub = open_hub({"r": {"url": second_redis, "pool": pool}})
    hub.execute("r", Put("failover", "k", {"n": 1}))
    # min_size fills in the background: count from when both connections are open
    eventually(lambda: hub.pool_stats()["r"].size == 2, 10, "the pool's min_size opened")
    master = urlsplit(drill.server("redis").url)
    admin = redis.Redis.from_url(second_redis)
    try:
        admin.replicaof(master.hostname, master.port)
        created = hub.pool_stats()["r"].created
        with caplog.at_level("WARNING", logger="dbplex.pool"):
            for _ in range(20):  # every write meets READONLY
                with pytest.raises(QueryError, match="read only replica"):
                    hub.execute("r", Put("failover", "k", {"n": 2}))
        evictions = [r for r in caplog.records if "no longer accepts writes" in r.getMessage()]
        assert len(evictions) == 1  # once per reconnect_min (30 s), not once per write
        # the first eviction replaced the connections once; the other 19 writes reused them
        assert hub.pool_stats()["r"].created - created <= 2
    finally:
        admin.replicaof("NO", "ONE")
        admin.close()


def multi_host(*servers: str, attrs: str) -> str:
    """``postgresql://user@h1:p1,h2:p2/db?target_session_attrs=...`` over the given sandbox URLs."""
    parts = [urlsplit(url) for url in servers]
    hosts = ",".join(f"{p.hostname}:{p.port}" for p in parts)
    return f"postgresql://{parts[0].username}@{hosts}{parts[0].path}?target_session_attrs={attrs}"


ROLE = SQL("SELECT pg_is_in_recovery() AS replica, inet_server_port() AS port")


@pytest.mark.parametrize("order", ["primary first", "replica first", "down host first"])
def test_pg_multi_host_url_reaches_the_writable_server(drill: sandbox.Sandbox, open_hub: Hub, order: str) -> None:
    primary, replica = drill.server("pg").url, drill.server("pg-replica1").url
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    listed = {
        "primary first": (primary, replica),
        "replica first": (replica, primary),
        "down host first": (down, primary),
    }
    hub = open_hub({"pg": {"url": multi_host(*listed[order], attrs="read-write"), "pool": {"min_size": 2}}})
    for _ in range(3):  # every pooled connection, not just the first
        row = hub.execute("pg", ROLE).one()
        assert row == {"replica": False, "port": urlsplit(primary).port}
    hub.execute("pg", Put("multihost", "k", {"order": order}))
    health = hub.health().sources[0]
    assert health.status is Status.UP and health.details["role"] == "primary"


def test_pg_multi_host_url_with_read_only_attrs_reaches_the_replica(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    primary, replica = drill.server("pg").url, drill.server("pg-replica1").url
    hub = open_hub({"pg": {"url": multi_host(primary, replica, attrs="standby")}})
    assert hub.execute("pg", ROLE).one() == {"replica": True, "port": urlsplit(replica).port}


def test_pg_multi_host_url_errors_name_every_host_and_no_password(open_hub: Hub) -> None:
    ports = free_port(), free_port()
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/app?target_session_attrs=read-write"
    hub = open_hub({"pg": {"url": url, "connect_timeout": 2}})
    with pytest.raises(SourceUnavailable) as raised:
        hub.execute("pg", Get("multihost", "k"))
    message = str(raised.value)
    assert message.startswith(
        f"source 'pg': cannot connect to 127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/app as user 'app'"
    )
    assert "s3cret-pw" not in message
    assert secrets.redact_url(url) == url.replace("s3cret-pw", "***")
    assert "s3cret-pw" not in repr(hub.sources["pg"]) and "s3cret-pw" not in repr(hub.config.sources["pg"])


def test_multi_host_replicas_are_validated_like_any_url() -> None:
    primary = "postgresql://app:pw1@db1:5432,db2:5432/app?target_session_attrs=read-write"
    config = dbplex.config.from_dict(
        {"sources": {"pg": {"url": primary, "replicas": ["postgresql://app@db3,db4/app"]}}}
    )
    assert config.sources["pg"].replicas == ["postgresql://app@db3,db4/app"]
    with pytest.raises(dbplex.ConfigError, match=r"replica 'redis://app:\*\*\*@db3,db4/0' must use the primary's URL"):
        dbplex.config.from_dict({"sources": {"pg": {"url": primary, "replicas": ["redis://app:pw2@db3,db4/0"]}}})


def pg_sessions(hub: dbplex.Hub, count: int) -> set[int]:
    """The backend pids of ``count`` pooled connections held at once."""
    with ExitStack() as held:
        return {held.enter_context(hub.connection("pg")).info.backend_pid for _ in range(count)}


def test_a_pg_write_refused_by_a_server_in_recovery_drains_the_pool_once(drill: sandbox.Sandbox, open_hub: Hub) -> None:
    """What an old primary's connections see after a promotion: 25006 from a server in recovery.
    Every connection is replaced (so a multi-host URL would find the new primary), once per reconnect_min."""
    pool = {"min_size": 2, "max_size": 2, "reconnect_min": 30, "reconnect_max": 60}
    hub = open_hub({"pg": {"url": drill.server("pg-replica1").url, "pool": pool}})
    before = pg_sessions(hub, 2)
    with pytest.raises(QueryError, match=r"read-only transaction \(SQLSTATE 25006\)"):
        hub.execute("pg", SQL("CREATE TABLE drained (x int)"))
    stats = hub.pool_stats()["pg"]
    assert (stats.recycled, stats.lost) == (2, 0)  # the one in use and the idle one, closed on purpose
    assert not pg_sessions(hub, 2) & before
    with pytest.raises(QueryError, match="SQLSTATE 25006"):
        hub.execute("pg", SQL("CREATE TABLE drained (x int)"))
    assert hub.pool_stats()["pg"].recycled == 2  # within reconnect_min: no second drain, no storm


async def async_pg_sessions(hub: dbplex.AsyncHub, count: int) -> set[int]:
    """The backend pids of ``count`` connections of the async pool, held at once."""
    async with AsyncExitStack() as held:
        return {(await held.enter_async_context(hub.connection("pg"))).info.backend_pid for _ in range(count)}


def test_an_async_pg_write_refused_by_a_server_in_recovery_drains_the_pool_once(drill: sandbox.Sandbox) -> None:
    """As in sync mode, under asyncio: the executor asks the server's role before the connection goes back."""
    pool = {"min_size": 2, "max_size": 2, "reconnect_min": 30, "reconnect_max": 60}

    async def main() -> None:
        async with dbplex.open_async(
            {"sources": {"pg": {"url": drill.server("pg-replica1").url, "pool": pool}}}
        ) as hub:
            before = await async_pg_sessions(hub, 2)
            with pytest.raises(QueryError, match=r"read-only transaction \(SQLSTATE 25006\)"):
                await hub.execute("pg", SQL("CREATE TABLE drained (x int)"))
            stats = hub.pool_stats()["pg"]
            assert (stats.recycled, stats.lost) == (2, 0)  # the one in use and the idle one, closed on purpose
            assert not await async_pg_sessions(hub, 2) & before
            with pytest.raises(QueryError, match="SQLSTATE 25006"):
                await hub.execute("pg", SQL("CREATE TABLE drained (x int)"))
            assert hub.pool_stats()["pg"].recycled == 2  # within reconnect_min: no second drain, no storm

    asyncio.run(main())


def test_an_async_read_only_transaction_of_the_user_s_own_drains_nothing(drill: sandbox.Sandbox) -> None:
    """25006 from a primary (the user's own read-only transaction): the pool keeps its connections."""
    pool = {"min_size": 2, "max_size": 2}

    async def main() -> None:
        async with dbplex.open_async({"sources": {"pg": {"url": drill.server("pg").url, "pool": pool}}}) as hub:
            before = await async_pg_sessions(hub, 2)
            with pytest.raises(QueryError, match="SQLSTATE 25006"):
                async with hub.transaction("pg") as tx:
                    await tx.execute(SQL("SET TRANSACTION READ ONLY"))
                    await tx.execute(SQL("CREATE TABLE refused (x int)"))
            stats = hub.pool_stats()["pg"]
            assert (stats.recycled, stats.lost) == (0, 0)
            assert await async_pg_sessions(hub, 2) == before

    asyncio.run(main())


def test_a_redis_master_reports_its_replica_s_lag(drill: sandbox.Sandbox, open_hub: Hub, second_redis: str) -> None:
    master_url = drill.server("redis").url
    hub = open_hub({"master": {"url": master_url}, "replica": {"url": second_redis}})
    master = urlsplit(master_url)
    admin = redis.Redis.from_url(second_redis)
    try:
        admin.replicaof(master.hostname, master.port)

        def listed() -> dict[str, float]:
            resources = hub.health(["master"]).sources[0].resources
            assert resources is not None
            return resources.replica_lag_seconds

        eventually(lambda: listed(), 30, "the master lists its replica once it is online")
        (replica,) = hub.health(["replica"]).sources
        assert replica.details["role"] == "slave" and replica.lag_seconds is not None
        [(address, lag)] = listed().items()
        assert address == f"127.0.0.1:{urlsplit(second_redis).port}" and lag >= 0
    finally:
        admin.replicaof("NO", "ONE")
        admin.close()
