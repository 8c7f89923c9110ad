"""``await async_hub.partitioned(name).query(...)`` gives what the sync hub gives for the same data.

Differential: each query runs on both hubs over the same partitioned data (a PostgreSQL table, Redis
buckets, MongoDB per-period collections or one collection); rows (in order), scanned and pruned
partitions, and errors must be equal. A cancelled query gives its connections back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import dbplex
from dbplex.partition import Inventory, Partitioned, PartitionSpec, ScatterResult, partition_for
from dbplex.testing.plugin import Servers
from tests.partition.conftest import PG_COLUMNS
from tests.partition.test_scatter_backends import FIRST, NOW, ROWS

#: (where, keyword arguments) of :meth:`Partitioned.query`, each a case both hubs answer.
QUERIES: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((), {"order_by": ["at", "id"]}),
    ((), {"order_by": ["-at", "id"], "limit": 7, "offset": 5}),
    ((("at", ">=", FIRST + timedelta(days=3)),), {"order_by": ["name", "-id"], "limit": 11}),
    ((("at", "<", FIRST + timedelta(days=2)), ("grp", "in", [1, 2])), {"order_by": ["grp", "at", "id"]}),
    ((("at", "==", ROWS[10]["at"]),), {"order_by": ["id"], "fields": ["id", "name"]}),
    ((("grp", "!=", 3),), {"equal": {"name": "bob"}, "order_by": [("grp", "desc"), "id"], "offset": 3}),
    ((("at", ">", NOW + timedelta(days=30)),), {"order_by": ["id"]}),
    ((), {"order_by": ["id"], "limit": 0}),
]


@contextmanager
def loaded(
    servers: Servers, backend: str, target: str, layout: str | None = None
) -> Iterator[tuple[dict[str, Any], PartitionSpec]]:
    """A daily-partitioned target of ``backend`` holding ROWS, and a configuration with every server
    (``layout``: MongoDB's, when not the default)."""
    spec = PartitionSpec(
        source=backend,
        target=target,
        strategy="range",
        key="at",
        interval="1 day",
        premake=2,
        since=FIRST.date().isoformat(),
        options={} if layout is None else {"layout": layout},
    )
    config = {"sources": {name: {"url": servers.url(name)} for name in ("pg", "redis", "mongo")}}
    with psycopg.connect(servers.url("pg"), autocommit=True) as conn:
        if backend == "pg":
            conn.execute(f"CREATE TABLE {target} ({PG_COLUMNS}) PARTITION BY RANGE (at)")
        with dbplex.open(config) as hub:
            games = hub.partitioned(spec)
            games.apply()
            assert games.insert([dict(r) for r in ROWS]) == len(ROWS)
            try:
                yield config, spec
            finally:
                if backend == "pg":
                    conn.execute(f"DROP TABLE {target}")
                elif backend == "mongo":
                    with hub.connection("mongo") as db:
                        for name in db.list_collection_names():
                            if name.startswith(target):
                                db.drop_collection(name)
                else:
                    with hub.connection("redis") as client:
                        client.delete(*client.keys(f"*{target}*"))


@pytest.fixture
def partitioned(dbplex_servers: Servers, unique_table: str) -> Iterator[tuple[dict[str, Any], PartitionSpec]]:
    """A daily-partitioned PostgreSQL table holding ROWS, and its configuration."""
    with loaded(dbplex_servers, "pg", unique_table) as found:
        yield found


@pytest.fixture
def on_mongo(dbplex_servers: Servers, unique_table: str) -> Iterator[tuple[dict[str, Any], PartitionSpec]]:
    """ROWS in MongoDB collections, one per day."""
    with loaded(dbplex_servers, "mongo", unique_table) as found:
        yield found


#: (backend, MongoDB layout): "auto" is a time series where the server makes them, and one
#: collection per day elsewhere (nx-27017); "collection" is one collection of virtual periods.
BACKENDS = [("pg", None), ("redis", None), ("mongo", None), ("mongo", "auto"), ("mongo", "collection")]


@pytest.fixture(params=BACKENDS, ids=[b if layout is None else f"{b}-{layout}" for b, layout in BACKENDS])
def any_backend(
    request: pytest.FixtureRequest, dbplex_servers: Servers, unique_table: str
) -> Iterator[tuple[dict[str, Any], PartitionSpec]]:
    """ROWS partitioned by day on each backend with an async partition reader."""
    with loaded(dbplex_servers, request.param[0], unique_table, request.param[1]) as found:
        yield found


def sync_results(config: dict[str, Any], spec: PartitionSpec) -> list[ScatterResult | Exception]:
    with dbplex.open(config) as hub:
        return [outcome(lambda w=w, o=o: hub.partitioned(spec).query(*w, **o)) for w, o in QUERIES]


def outcome(call: Any) -> ScatterResult | Exception:
    try:
        result: ScatterResult = call()
    except dbplex.DbplexError as exc:
        return exc
    return result


def test_every_query_equals_the_sync_hubs_rows_scanned_and_pruned(
    any_backend: tuple[dict[str, Any], PartitionSpec],
) -> None:
    config, spec = any_backend
    expected = sync_results(config, spec)

    async def main() -> tuple[list[ScatterResult], list[ScatterResult]]:
        async with dbplex.open_async(config) as hub:
            one_by_one = [await hub.partitioned(spec).query(*w, **o) for w, o in QUERIES]
            games = hub.partitioned(spec)
            listing = await games.listing()  # one listing for every query, all of them at once
            at_once = await asyncio.gather(*(games.run(games.build(*w, **o), inventory=listing) for w, o in QUERIES))
            return one_by_one, at_once

    one_by_one, at_once = asyncio.run(main())
    assert any(len(e.rows) > 10 for e in expected if isinstance(e, ScatterResult))  # the data is there
    for got in (one_by_one, at_once):
        for (where, options), want, have in zip(QUERIES, expected, got, strict=True):
            assert isinstance(want, ScatterResult), (where, options, want)
            assert (have.rows, have.scanned, have.pruned) == (want.rows, want.scanned, want.pruned), (where, options)


def test_the_same_errors_and_lookups_as_the_sync_hub(partitioned: tuple[dict[str, Any], PartitionSpec]) -> None:
    config, spec = partitioned
    with dbplex.open(config) as hub, pytest.raises(dbplex.OpError) as sync_limit:
        hub.partitioned(spec).query(limit=-1)

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            with pytest.raises(dbplex.OpError) as async_limit:
                await hub.partitioned(spec).query(limit=-1)
            assert str(async_limit.value) == str(sync_limit.value)
            with pytest.raises(dbplex.ConfigError, match=r"unknown partition spec 'nope' \(configured: none"):
                hub.partitioned("nope")

    asyncio.run(main())


def test_a_cancelled_query_gives_every_connection_back(
    partitioned: tuple[dict[str, Any], PartitionSpec], dbplex_servers: Servers
) -> None:
    """A partition locked by another session holds the query's reads until the task is cancelled."""
    config, spec = partitioned
    partition = partition_for(spec, ROWS[0]["at"]).name  # type: ignore[union-attr]

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            with psycopg.connect(dbplex_servers.url("pg")) as locker:
                locker.execute(f"LOCK TABLE {partition} IN ACCESS EXCLUSIVE MODE")
                task = asyncio.create_task(hub.partitioned(spec).query(order_by=["id"]))
                while not await waiting_on_lock(hub):
                    await asyncio.sleep(0.01)
                assert hub.pool_stats()["pg"].used >= 1
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert hub.pool_stats()["pg"].used == 0
            rows = await hub.partitioned(spec).query(order_by=["id"])  # the pool still serves
            assert [r["id"] for r in rows] == sorted(r["id"] for r in ROWS)

    asyncio.run(main())


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_query_cancelled_while_its_mongodb_reads_are_in_flight_gives_every_connection_back(
    on_mongo: tuple[dict[str, Any], PartitionSpec], warm: bool
) -> None:
    """The task is cancelled once partition reads hold connections (each needs a round trip to
    the server, so the query cannot end between two turns of the loop), or, on a cold pool, once
    pymongo is opening connections for them: nothing stays counted used or pending."""
    config, spec = on_mongo

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            games = hub.partitioned(spec)
            listing = await games.listing()  # the pool is open, its statistics there
            if warm:
                await games.run(games.build(order_by=["id"]), inventory=listing)  # its connections made
            task = asyncio.create_task(games.run(games.build(order_by=["id"]), inventory=listing))
            under_way = 2 if warm else 1
            while not task.done() and (stats := hub.pool_stats()["mongo"]).used + stats.pending < under_way:
                await asyncio.sleep(0)
            assert not task.done()  # cancelled with its reads under way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stats = hub.pool_stats()["mongo"]
            assert stats.used == 0 and stats.pending == 0, stats
            rows = await hub.partitioned(spec).query(order_by=["id"])  # the pool still serves
            assert [r["id"] for r in rows] == sorted(r["id"] for r in ROWS)

    asyncio.run(main())


async def waiting_on_lock(hub: dbplex.AsyncHub) -> bool:
    """Whether some session waits for a lock (the query's read of the locked partition)."""
    async with hub.connection("pg") as conn:
        row = await (await conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")).fetchone()
    return bool(row[0])


def test_a_failed_partition_read_stops_the_others_and_raises_what_the_sync_hub_raises(
    partitioned: tuple[dict[str, Any], PartitionSpec], dbplex_servers: Servers
) -> None:
    """A partition dropped after the listing fails its read while another one's read waits on a
    lock: the query raises the sync hub's error at once and no read keeps a connection."""
    config, spec = partitioned
    dropped = partition_for(spec, ROWS[0]["at"]).name  # type: ignore[union-attr]
    locked = next(partition_for(spec, r["at"]).name for r in ROWS if partition_for(spec, r["at"]).name != dropped)  # type: ignore[union-attr]
    request = Partitioned.build(order_by=["id"])

    async def listing() -> Inventory:
        async with dbplex.open_async(config) as hub:
            return await hub.partitioned(spec).listing()

    stale = asyncio.run(listing())
    with psycopg.connect(dbplex_servers.url("pg"), autocommit=True) as conn:
        conn.execute(f"DROP TABLE {dropped}")
    with dbplex.open(config) as hub, pytest.raises(dbplex.QueryError) as sync_error:
        hub.partitioned(spec).run(request, inventory=stale)
    assert dropped in str(sync_error.value)

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            with psycopg.connect(dbplex_servers.url("pg")) as locker:
                locker.execute(f"LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE")
                with pytest.raises(dbplex.QueryError) as async_error:
                    await hub.partitioned(spec).run(request, inventory=stale)
                assert str(async_error.value) == str(sync_error.value)
                assert hub.pool_stats()["pg"].used == 0

    asyncio.run(main())
