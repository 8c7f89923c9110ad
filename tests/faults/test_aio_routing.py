"""Read routing under asyncio, over a real PostgreSQL streaming replica and a real Redis replica:
reads land on the replica, writes on the primary, read-your-writes holds per task, and a stopped
replica's reads fail over to the primary without an error."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.health import Status
from dbplex.sandbox import process, redis_server
from tests.faults.conftest import eventually, restart_if_stopped

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")
from dbplex_pg.ops import SQL  # noqa: E402

PORT = SQL("SELECT inet_server_port() AS port")


async def port_of(hub: dbplex.AsyncHub, read: bool | None) -> int:
    return int((await hub.execute("pg", PORT, read=read)).scalar())


async def until(probe: Any, timeout: float, what: str) -> None:
    """Await ``probe()`` until truthy; ``timeout`` is a bound, not a figure."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await probe():
        assert loop.time() - started < timeout, f"{what}: not within {timeout:g}s"
        await asyncio.sleep(0.02)


def pg_source(drill: sandbox.Sandbox, **routing: Any) -> dict[str, Any]:
    return {
        "url": drill.server("pg").url,
        "replicas": [drill.server("pg-replica1").url],
        "connect_timeout": 2,
        "routing": routing,
    }


def test_async_reads_go_to_the_replica_and_writes_to_the_primary(drill: sandbox.Sandbox) -> None:
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port

    async def main() -> None:
        async with dbplex.open_async({"sources": {"pg": pg_source(drill)}}) as hub:
            assert await port_of(hub, read=True) == replica
            assert await port_of(hub, read=None) == primary  # a statement is a write unless marked read
            assert await port_of(hub, read=False) == primary
            await hub.execute("pg", Put("aio_routing", "k", {"n": 1}))

            async def replayed() -> bool:
                return bool((await hub.execute("pg", Get("aio_routing", "k"))).rows)

            await until(replayed, 10, "the replica replays the write")
            stats = hub.pool_stats()
            assert stats["pg/replica1"].acquired >= 2 and stats["pg"].acquired >= 3
            async with hub.transaction("pg") as tx:
                assert int((await tx.execute(PORT)).scalar()) == primary
            (health,) = (await hub.health()).sources
            assert health.status is Status.UP
            assert [r.source for r in health.replicas] == ["pg/replica1"]
            assert health.replicas[0].breaker == "closed"

    asyncio.run(main())


def test_async_read_your_writes_holds_for_the_writing_task_only(drill: sandbox.Sandbox) -> None:
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port

    async def main() -> None:
        async with dbplex.open_async({"sources": {"pg": pg_source(drill, read_your_writes=30)}}) as hub:

            async def writer() -> tuple[dict[str, Any], int]:
                await hub.execute("pg", Put("aio_routing", "ryw", {"n": 2}))
                row = (await hub.execute("pg", Get("aio_routing", "ryw"))).one()  # on the primary: no lag
                return row["values"], await port_of(hub, read=True)

            assert await asyncio.create_task(writer()) == ({"n": 2}, primary)
            assert await port_of(hub, read=True) == replica  # this task wrote nothing

    asyncio.run(main())


def test_a_stopped_replica_s_async_reads_fail_over_to_the_primary(drill: sandbox.Sandbox) -> None:
    primary, replica = drill.server("pg").port, drill.server("pg-replica1").port
    routing = {"lag_check_interval": 0.2, "breaker": {"failures": 2, "reset_after": 0.5}}

    async def main() -> None:
        async with dbplex.open_async({"sources": {"pg": pg_source(drill, **routing)}}) as hub:
            assert await port_of(hub, read=True) == replica
            sandbox.stop_server(drill.directory, "pg-replica1")
            try:
                # every read is answered, by the primary, while the replica is down
                assert [await port_of(hub, read=True) for _ in range(10)] == [primary] * 10
                (health,) = (await hub.health()).sources
                assert health.status is Status.DEGRADED and health.replicas[0].status is Status.DOWN
                assert health.replicas[0].breaker == "open"
            finally:
                sandbox.start_server(drill.directory, "pg-replica1")

            async def back() -> bool:
                return await port_of(hub, read=True) == replica

            await until(back, 30, "reads return to the restarted replica")

    try:
        asyncio.run(main())
    finally:
        restart_if_stopped(drill, "pg-replica1")


@pytest.fixture
def redis_replica(drill: sandbox.Sandbox) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server replicating the drill's Redis (no persistence), its URL and process; the
    test may stop it."""
    master = urlsplit(drill.server("redis").url)
    port = process.free_port()
    with tempfile.TemporaryDirectory(prefix="dbplex-aio-replica-") as directory:
        args = [str(redis_server.binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", directory, "--replicaof", str(master.hostname), str(master.port)]
        server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield f"redis://127.0.0.1:{port}/0", server
        finally:
            server.terminate()
            server.wait(10)


def test_async_redis_reads_go_to_the_replica_and_fail_over_when_it_stops(
    drill: sandbox.Sandbox, redis_replica: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, replica_server = redis_replica
    probe = redis.Redis.from_url(url)

    def linked() -> bool:
        try:
            return bool(probe.info("replication").get("master_link_status") == "up")
        except redis.ConnectionError:
            return False

    eventually(linked, 20, "the Redis replica is in sync with its master")
    probe.close()
    source = {"url": drill.server("redis").url, "replicas": [url], "connect_timeout": 2}

    async def main() -> None:
        async with dbplex.open_async({"sources": {"r": source}}) as hub:
            await hub.execute("r", Put("aio_routing", "k", {"n": 3}))

            async def replayed() -> bool:
                return bool((await hub.execute("r", Get("aio_routing", "k"))).rows)

            await until(replayed, 10, "the replica has the write")
            stats = hub.pool_stats()
            on_replica, on_primary = stats["r/replica1"].acquired, stats["r"].acquired
            for _ in range(5):
                assert (await hub.execute("r", Get("aio_routing", "k"))).one()["values"] == {"n": 3}
            await hub.execute("r", Put("aio_routing", "k", {"n": 4}))
            stats = hub.pool_stats()
            assert stats["r/replica1"].acquired == on_replica + 5  # the reads
            assert stats["r"].acquired == on_primary + 1  # the write

            replica_server.terminate()
            replica_server.wait(10)
            before = hub.pool_stats()["r"].acquired
            for _ in range(5):  # answered by the primary, without an error
                assert (await hub.execute("r", Get("aio_routing", "k"))).one()["values"] == {"n": 4}
            assert hub.pool_stats()["r"].acquired == before + 5

    asyncio.run(main())
