"""The asyncio core pool (``AsyncConnectorPool``) on real servers: bounds, the wait deadline, first
come first served, and cancellation while waiting for or holding a connection.

After every cancellation ``pool_stats()`` must show no connection in use, and the server's own
count of the pool's sessions must come back to the pool's ``size`` (the pool closes a connection
whose state a cancellation left unknown, and the server sees it go). Sessions are told apart by a
name of the test's own: PostgreSQL's ``application_name``, Redis's ``client_name``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis
from pymongo import monitoring
from pymongo.errors import InvalidOperation

import dbplex
from dbplex import ConfigError, Get, Op, Put
from dbplex_pg import SQL
from dbplex_redis import Command

BACKENDS = ("pg", "redis")


class Counted:
    """A source URL whose sessions the server names ``tag``, with the server's count of them and an op
    that blocks on the server for a few seconds (to be cancelled mid-flight)."""

    def __init__(self, url: str, count: Callable[[], int], slow: Op) -> None:
        self.url = url
        self.count = count
        self.slow = slow


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.fixture(params=BACKENDS)
def counted(request: pytest.FixtureRequest, dbplex_servers: Any) -> Iterator[Counted]:
    tag = f"aio_{uuid.uuid4().hex[:10]}"
    url = dbplex_servers.url(request.param)
    if request.param == "pg":

        def count() -> int:
            with psycopg.connect(url, autocommit=True) as admin:
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [tag]
                ).fetchone()
            return int(row[0]) if row else 0

        yield Counted(_with_query(url, f"application_name={tag}"), count, SQL("SELECT pg_sleep(5)"))
    else:
        client = redis.Redis.from_url(url)

        def count() -> int:
            return sum(1 for c in client.client_list() if c.get("name") == tag)

        yield Counted(_with_query(url, f"client_name={tag}"), count, Command(["BLPOP", f"{tag}:never", 5]))
        client.close()


def hub_for(url: str, **pool: Any) -> dbplex.AsyncHub:
    return dbplex.open_async({"sources": {"s": {"url": url, "pool": pool}}})


async def settled(counted: Counted, size: Callable[[], int]) -> tuple[int, int]:
    """The server's session count once it matches ``size()`` (closes are asynchronous on both sides:
    a server ends a session a moment after its client closed it), as (server, expected); gives up
    after 10 s and returns what it saw (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + 10
    while True:
        expected = size()
        seen = await asyncio.to_thread(counted.count)
        if seen == expected or time.monotonic() > deadline:
            return seen, expected
        await asyncio.sleep(0.05)


def pool_size(hub: dbplex.AsyncHub) -> Callable[[], int]:
    return lambda: hub.pool_stats()["s"].size


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (what the test waits for is one step away)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def test_the_pool_never_opens_more_than_max_size(counted: Counted, unique_table: str) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=0, max_size=2, timeout=30) as hub:
            peak = 0

            async def one(i: int) -> None:
                nonlocal peak
                async with hub.connection("s"):
                    peak = max(peak, hub.pool_stats()["s"].used)
                    await asyncio.sleep(0.01)
                await hub.execute("s", Put(unique_table, f"k{i}", {"i": i}))

            await asyncio.gather(*(one(i) for i in range(20)))
            stats = hub.pool_stats()["s"]
            assert peak == 2 and stats.size <= 2 and stats.used == 0
            assert stats.acquired == 40 and stats.created <= 2
            assert await settled(counted, pool_size(hub)) == (stats.size, stats.size)

    asyncio.run(main())


def test_a_caller_that_finds_no_free_connection_times_out_naming_the_source(counted: Counted) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=0, max_size=1, timeout=0.2) as hub:
            async with hub.connection("s"):
                with pytest.raises(dbplex.PoolTimeout, match=r"source 's': no free connection within 0.2s \(1 in use"):
                    await hub.execute("s", Get("t", "k"))
            stats = hub.pool_stats()["s"]
            assert stats.timeouts == 1 and stats.pending == 0 and stats.used == 0

    asyncio.run(main())


def test_waiters_get_connections_first_come_first_served(counted: Counted) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=0, max_size=1, timeout=30) as hub:
            order: list[int] = []

            async def waiter(i: int) -> None:
                async with hub.connection("s"):
                    order.append(i)

            async with hub.connection("s"):
                tasks = []
                for i in range(5):
                    tasks.append(asyncio.create_task(waiter(i)))
                    await until(lambda i=i: hub.pool_stats()["s"].pending == i + 1)
            await asyncio.gather(*tasks)
            assert order == [0, 1, 2, 3, 4]

    asyncio.run(main())


def test_a_task_cancelled_while_waiting_leaves_the_queue_and_takes_nothing(counted: Counted, unique_table: str) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=1, max_size=1, timeout=30) as hub:
            async with hub.connection("s"):
                task = asyncio.create_task(hub.execute("s", Get(unique_table, "k")))
                await until(lambda: hub.pool_stats()["s"].pending == 1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert hub.pool_stats()["s"].pending == 0
            assert (await hub.execute("s", Put(unique_table, "k", {"a": 1}))).affected == 1
            stats = hub.pool_stats()["s"]
            assert stats.used == 0 and stats.size == 1 and stats.lost == 0
            assert await settled(counted, pool_size(hub)) == (1, 1)

    asyncio.run(main())


def test_a_connection_handed_to_a_waiter_cancelled_before_it_ran_goes_back(counted: Counted) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=1, max_size=1, timeout=30) as hub:
            pool = await hub.pool("s")
            holding = pool.connection()
            await holding.__aenter__()
            waiter = asyncio.create_task(hub.execute("s", Get("t", "k")))
            await until(lambda: hub.pool_stats()["s"].pending == 1)
            await holding.__aexit__(None, None, None)  # hands the connection to the waiter...
            waiter.cancel()  # ...which is cancelled before it could run
            with pytest.raises(asyncio.CancelledError):
                await waiter
            stats = hub.pool_stats()["s"]
            assert stats.used == 0 and stats.idle == 1 and stats.pending == 0

    asyncio.run(main())


def test_a_task_cancelled_mid_query_gives_its_connection_up_and_the_server_session_goes(counted: Counted) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=1, max_size=2, timeout=30) as hub:
            await hub.execute("s", Get("t", "k"))
            task = asyncio.create_task(hub.execute("s", counted.slow))
            await until(lambda: hub.pool_stats()["s"].used == 1)
            await asyncio.sleep(0.2)  # the op is on the server now
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stats = hub.pool_stats()["s"]
            assert stats.used == 0 and stats.lost == 1  # its state was unknown: closed, not reused
            assert (await hub.execute("s", Get("t", "k"))).rows == []
            server, size = await settled(counted, pool_size(hub))
            assert server == size and hub.pool_stats()["s"].used == 0

    asyncio.run(main())


def test_a_storm_of_cancellations_leaves_no_connection_in_use_and_no_extra_session(
    counted: Counted, unique_table: str
) -> None:
    chance = random.Random(15)

    async def main() -> None:
        async with hub_for(counted.url, min_size=2, max_size=4, timeout=30) as hub:

            async def work(i: int) -> None:
                await hub.execute("s", Put(unique_table, f"k{i % 7}", {"i": i}))
                await hub.execute("s", Get(unique_table, f"k{i % 7}"))

            tasks = [asyncio.create_task(work(i)) for i in range(300)]
            for _ in range(60):
                await asyncio.sleep(chance.random() / 500)
                for task in chance.sample(tasks, 5):
                    task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            failures = [o for o in outcomes if isinstance(o, Exception)]
            assert not failures, failures[:3]
            assert sum(t.cancelled() for t in tasks) > 0
            stats = hub.pool_stats()["s"]
            assert stats.used == 0 and stats.pending == 0 and stats.size <= 4, stats
            server, size = await settled(counted, pool_size(hub))
            assert server == size, hub.pool_stats()["s"]
            assert (await hub.execute("s", Put(unique_table, "after", {"ok": True}))).affected == 1

    asyncio.run(main())


def test_closing_the_hub_ends_every_server_session(counted: Counted) -> None:
    async def main() -> None:
        hub = hub_for(counted.url, min_size=2, max_size=3)
        await asyncio.gather(*(hub.execute("s", Get("t", f"k{i}")) for i in range(6)))
        assert hub.pool_stats()["s"].size >= 2
        await hub.aclose()
        assert hub.pool_stats() == {}
        assert await settled(counted, lambda: 0) == (0, 0)

    asyncio.run(main())


def test_mongodb_counts_each_waiting_task_as_pending(dbplex_servers: Any) -> None:
    """pymongo's pool is the driver's; dbplex reads its events, telling waiting checkouts apart by
    task under asyncio (by thread in sync mode), so ``pending`` counts every waiting task."""

    async def main() -> None:
        async with hub_for(dbplex_servers.url("mongo"), max_size=1) as hub:
            await hub.execute("s", Get("t", "warm"))  # the server is known: checkouts queue at once
            tasks = [asyncio.create_task(hub.execute("s", Get("t", f"k{i}"))) for i in range(10)]
            await until(lambda: hub.pool_stats()["s"].pending > 1)
            await asyncio.gather(*tasks)
            stats = hub.pool_stats()["s"]
            assert stats.pending == 0 and stats.used == 0 and stats.acquired >= 11

    asyncio.run(main())


def test_mongodb_without_pool_statistics_registers_no_listener(dbplex_servers: Any) -> None:
    """``options.pool_statistics = false`` under asyncio as in sync mode: no pool events, ops as
    usual, the stats keep only what the plugin sees itself; settings that need the events refuse it."""
    url = dbplex_servers.url("mongo")

    async def main() -> None:
        source = {"url": url, "options": {"pool_statistics": False}, "pool": {"min_size": 0, "max_size": 1}}
        async with dbplex.open_async({"sources": {"s": source}}) as hub:
            await hub.execute("s", Put("t_nostats", "k", {"i": 1}))
            assert (await hub.execute("s", Get("t_nostats", "k"))).one()["values"] == {"i": 1}
            async with hub.connection("s") as db:
                assert not [
                    x for x in db.client.options.event_listeners if isinstance(x, monitoring.ConnectionPoolListener)
                ]
            stats = hub.pool_stats()["s"]
            assert (stats.min, stats.max, stats.acquired, stats.created, stats.size) == (0, 1, 0, 0, 0)
        refused = {**source, "pool": {"leak_threshold": 5}}
        async with dbplex.open_async({"sources": {"s": refused}}) as hub:
            with pytest.raises(ConfigError, match=r"source 's': pool\.leak_threshold needs pymongo's pool events"):
                await hub.execute("s", Get("t_nostats", "k"))

    asyncio.run(main())


def test_a_task_cancelled_while_its_connection_opens_leaves_the_connection_to_the_pool(counted: Counted) -> None:
    async def main() -> None:
        async with hub_for(counted.url, min_size=0, max_size=1, timeout=30) as hub:
            task = asyncio.create_task(hub.execute("s", Get("t", "k")))
            await until(lambda: hub.pool_stats().get("s") is not None)
            await asyncio.sleep(0)  # the task is connecting now
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            deadline = time.monotonic() + 10  # a liveness bound: the connect finishes on its own
            while hub.pool_stats()["s"].size == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            stats = hub.pool_stats()["s"]
            assert stats.size == stats.idle == 1 and stats.used == 0 and stats.created == 1
            assert await settled(counted, pool_size(hub)) == (1, 1)
            assert (await hub.execute("s", Get("t", "k"))).rows == []
            assert hub.pool_stats()["s"].created == 1  # the connection opened for the cancelled task served this one

    asyncio.run(main())


def test_mongodb_resize_replaces_the_client_with_the_new_sizes(dbplex_servers: Any, unique_table: str) -> None:
    """pymongo's sizes are fixed per client: under asyncio too a resize puts a new client in place."""

    async def main() -> None:
        async with hub_for(dbplex_servers.url("mongo"), min_size=0, max_size=2) as hub:
            await hub.execute("s", Put(unique_table, "k", {"n": 1}))
            await hub.resize("s", 1, 7)
            async with hub.connection("s") as db:
                options = db.client.options.pool_options
            assert (options.min_pool_size, options.max_pool_size) == (1, 7)
            stats = hub.pool_stats()["s"]
            assert (stats.min, stats.max) == (1, 7)
            assert (await hub.execute("s", Get(unique_table, "k"))).one()["values"] == {"n": 1}
            with pytest.raises(ConfigError, match="resize needs 0 <= min_size <= max_size"):
                await hub.resize("s", 3, 2)

    asyncio.run(main())


def test_mongodb_replaces_an_expired_client_and_closes_it_when_its_last_checkout_ends(
    dbplex_servers: Any, unique_table: str
) -> None:
    async def main() -> None:
        pool = {"max_lifetime": 0.5, "lifetime_jitter": 0.5}
        async with hub_for(dbplex_servers.url("mongo"), **pool) as hub:
            await hub.execute("s", Put(unique_table, "k", {"n": 1}))
            async with hub.connection("s") as old:
                first = old.client
                await asyncio.sleep(0.6)  # past the lifetime (0.25-0.5 s): the next checkout gets a new client
                assert (await hub.execute("s", Get(unique_table, "k"))).one()["values"] == {"n": 1}
                async with hub.connection("s") as new:
                    assert new.client is not first
                assert await old[unique_table].find_one({"_id": "k"}) is not None  # it still serves its checkout
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # closed in a task on the loop once that checkout ended
                try:
                    await first.admin.command("ping")
                except InvalidOperation:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the replaced client was not closed after its last checkout")
            stats = hub.pool_stats()["s"]
            assert stats.recycled >= 1 and stats.lost == 0  # its connection, closed on purpose with it

    asyncio.run(main())


def test_mongodb_cancelled_checkouts_across_client_replacements_leave_nothing_in_use(
    dbplex_servers: Any, unique_table: str
) -> None:
    """Tasks cancelled at any point, while resizes replace the client under them, end their
    checkouts: no connection stays in use and every replaced client gets closed."""

    async def main() -> None:
        async with hub_for(dbplex_servers.url("mongo"), min_size=0, max_size=2) as hub:
            await hub.execute("s", Put(unique_table, "k", {"n": 1}))
            pool: Any = await hub.pool("s")

            async def reader() -> None:
                async with hub.connection("s") as db:
                    await db[unique_table].find_one({"_id": "k"})
                    await hub.execute("s", Get(unique_table, "k"))

            rng = random.Random(7)
            for round_ in range(5):
                tasks = [asyncio.create_task(reader()) for _ in range(20)]
                for _ in range(rng.randrange(1, 30)):
                    await asyncio.sleep(0)
                await hub.resize("s", 0, 2 + round_ % 2)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await until(lambda: not pool.rotation.retired)
            assert not pool.rotation.current.checkouts
            for _ in range(500):  # a cancelled command's connection may reach pymongo's events a moment later (a bound)
                if hub.pool_stats()["s"].used == 0:
                    break
                await asyncio.sleep(0.01)
            assert hub.pool_stats()["s"].used == 0
            assert (await hub.execute("s", Get(unique_table, "k"))).one()["values"] == {"n": 1}

    asyncio.run(main())
