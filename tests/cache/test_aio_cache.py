"""The read-through cache under asyncio (``dbplex.open_async``) against real servers: the same
exact counts as the sync cache, writes through the async hub (and its transactions) seen at once
by a sync hub and a sync process sharing the store, the fill race closed by the same lease,
cancellation that leaves no connection in use and no lease behind, a failing store, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Get, Put, Update
from dbplex.cache import CacheInvalidationError
from tests.cache.conftest import Reader
from tests.cache.test_cache import counts

Hub = dbplex.Hub


@pytest.fixture
def sync(open_cached: Callable[..., Hub]) -> Hub:
    """A sync hub on the async hubs' configuration; the store is cleaned up through it after the test."""
    return open_cached()


@pytest.fixture
def config(sync: Hub, make_config: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The configuration of ``sync``, for the async hubs."""
    return make_config()


def run(main: Callable[[], Any]) -> Any:
    return asyncio.run(main())


@pytest.mark.parametrize("backend", ["pg", "mongo"])
def test_hits_and_misses_are_counted_exactly(
    open_cached: Callable[..., Hub], make_config: Callable[..., dict[str, Any]], unique_table: str, backend: str
) -> None:
    sync = open_cached(backend)  # cleans the store up after the test
    name = f"{backend}.{unique_table}"
    record = {"n": 1, "s": "x", "b": b"\x00\xff", "f": 1e16, "l": [1, {"a": None}]}

    async def main() -> None:
        async with dbplex.open_async(make_config(backend)) as hub:
            await hub.execute(backend, Put(table=unique_table, key="k1", values=record))
            assert counts(hub, name) == (0, 0, 0, 0, 1)
            first = await hub.execute(backend, Get(table=unique_table, key="k1"))  # miss, filled
            second = await hub.execute(backend, Get(table=unique_table, key="k1"))  # hit
            part = await hub.execute(backend, Get(table=unique_table, key="k1", fields=["s", "zz"]))  # hit
            assert first == second == await hub.execute_uncached(backend, Get(table=unique_table, key="k1"))
            assert part == await hub.execute_uncached(backend, Get(table=unique_table, key="k1", fields=["s", "zz"]))
            assert second.rows == [{"key": "k1", "values": record}]
            assert (await hub.execute(backend, Get(table=unique_table, key="absent"))).rows == []  # miss
            assert (await hub.execute(backend, Get(table=unique_table, key="absent"))).rows == []  # hit
            assert counts(hub, name) == (3, 2, 2, 0, 1)

            await hub.execute(backend, Update(table=unique_table, key="k1", values={"n": 2}))
            assert (await hub.execute(backend, Get(table=unique_table, key="k1"))).rows[0]["values"]["n"] == 2
            await hub.execute(backend, Delete(table=unique_table, key="k1"))
            assert (await hub.execute(backend, Get(table=unique_table, key="k1"))).rows == []  # miss
            assert (await hub.execute(backend, Get(table=unique_table, key="k1"))).rows == []  # hit
            assert counts(hub, name) == (4, 4, 4, 0, 3)
            assert hub.cache is not None
            assert hub.cache.stats()[name].hit_ratio == 0.5
            shared = await hub.cache.shared_stats()
            assert (shared[name].hits, shared[name].misses, shared[name].invalidations) == (4, 4, 3)

    run(main)
    # the sync hub reads the same fleet-wide counts and the entry the async hub filled
    assert sync.cache is not None
    assert sync.cache.shared_stats()[name].hits == 4
    assert sync.execute(backend, Get(table=unique_table, key="absent")).rows == []
    assert counts(sync, name) == (1, 0, 0, 0, 0)


def test_writes_of_either_hub_are_read_at_once_by_the_other(
    sync: Hub, config: dict[str, Any], unique_table: str
) -> None:
    name = f"pg.{unique_table}"

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
            assert sync.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": 1}  # sync fill
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": 1}  # hit
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": 2}))  # acknowledged here
            assert sync.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": 2}
            sync.execute("pg", Put(table=unique_table, key="k", values={"v": 3}))
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": 3}
            assert counts(hub, name) == (1, 1, 1, 0, 2)

    run(main)
    assert counts(sync, name) == (0, 2, 2, 0, 1)


def test_an_async_write_is_read_at_once_by_a_sync_process(
    config: dict[str, Any], reader_process: Reader, unique_table: str
) -> None:
    """Process B (sync) caches a record; this process writes it through an async hub; B's next
    read returns the new value. The steps are ordered by B's stdin and stdout, not by time."""
    read = reader_process

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
            assert read("k") == {"rows": [{"key": "k", "values": {"v": "old"}}], "hits": 0, "misses": 1}
            assert read("k") == {"rows": [{"key": "k", "values": {"v": "old"}}], "hits": 1, "misses": 1}
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": "new"}))  # acknowledged here
            assert read("k") == {"rows": [{"key": "k", "values": {"v": "new"}}], "hits": 1, "misses": 2}
            async with hub.transaction("pg") as tx:
                await tx.execute(Put(table=unique_table, key="k", values={"v": "newer"}))
            assert read("k") == {"rows": [{"key": "k", "values": {"v": "newer"}}], "hits": 1, "misses": 3}
            # and the other way: B's fill serves this hub's next read
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": "newer"}
            assert counts(hub, f"pg.{unique_table}") == (1, 0, 0, 0, 3)

    run(main)


def test_a_fill_that_read_before_a_write_stores_nothing(config: dict[str, Any], unique_table: str) -> None:
    """The race: a miss reads the old value, a write lands and deletes the key, then the miss
    would store the old value. The write (through another async hub) happens in ``before_fill``,
    between the two, every time."""
    name = f"pg.{unique_table}"

    async def main() -> None:
        async with dbplex.open_async(config) as reader, dbplex.open_async(config) as writer:
            await reader.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
            assert reader.cache is not None

            async def write_in_between(table: str, key: str) -> None:
                assert (table, key) == (name, "k")
                await writer.execute("pg", Put(table=unique_table, key="k", values={"v": "new"}))

            reader.cache.before_fill = write_in_between
            # this read began before the write was acknowledged: the old value is a correct answer
            assert (await reader.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": "old"}
            reader.cache.before_fill = None
            assert counts(reader, name) == (0, 1, 0, 1, 1)
            # after the write: the new value, from the source (a miss), never the old one from the store
            assert (await reader.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": "new"}
            assert counts(reader, name) == (0, 2, 1, 1, 1)

    run(main)


def test_a_transaction_deletes_its_records_entries_after_the_commit(config: dict[str, Any], unique_table: str) -> None:
    name = f"pg.{unique_table}"

    async def main() -> tuple[int, int, int, int, int]:
        async with dbplex.open_async(config) as hub:
            for key in ("a", "b", "c"):
                await hub.execute("pg", Put(table=unique_table, key=key, values={"v": 1}))
                await hub.execute("pg", Get(table=unique_table, key=key))
            async with hub.transaction("pg") as tx:
                await tx.execute(Update(table=unique_table, key="a", values={"v": 2}))
                await tx.execute(Delete(table=unique_table, key="b"))
                # not committed yet: the entry still serves what was committed
                assert (await hub.execute("pg", Get(table=unique_table, key="a"))).rows[0]["values"] == {"v": 1}
            assert (await hub.execute("pg", Get(table=unique_table, key="a"))).rows[0]["values"] == {"v": 2}
            assert (await hub.execute("pg", Get(table=unique_table, key="b"))).rows == []
            with pytest.raises(RuntimeError):  # rolled back: nothing written, nothing invalidated
                async with hub.transaction("pg") as tx:
                    await tx.execute(Put(table=unique_table, key="c", values={"v": 9}))
                    raise RuntimeError("roll back")
            assert (await hub.execute("pg", Get(table=unique_table, key="c"))).rows[0]["values"] == {"v": 1}
            return counts(hub, name)

    assert run(main) == (2, 5, 5, 0, 5)  # hits: "a" inside the block, "c" after the rollback


def test_a_cancelled_fill_leaves_no_connection_in_use_and_no_lease(
    sync: Hub, config: dict[str, Any], unique_table: str
) -> None:
    """The task is cancelled in ``before_fill``: after the source read, holding the lease."""
    name = f"pg.{unique_table}"
    entry = f"cache:pg:{unique_table}:k"

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            assert hub.cache is not None
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
            filling = asyncio.Event()

            async def wait_forever(table: str, key: str) -> None:
                filling.set()
                await asyncio.Event().wait()

            hub.cache.before_fill = wait_forever
            task = asyncio.create_task(hub.execute("pg", Get(table=unique_table, key="k")))
            await filling.wait()  # the miss read the source and holds the lease
            with sync.connection("store") as client:
                assert client.get(entry)[:1] == b"L"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert {stats.used for stats in hub.pool_stats().values()} == {0}
            with sync.connection("store") as client:
                assert not client.exists(entry)  # the lease was given back
            hub.cache.before_fill = None
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": 1}
            assert counts(hub, name) == (0, 2, 1, 0, 1)

    run(main)


def test_a_read_cancelled_while_the_source_answers_returns_its_connections(
    sync: Hub, config: dict[str, Any], unique_table: str
) -> None:
    """A lock held by another connection keeps the source read waiting on the server; the task
    is cancelled there."""
    sync.execute_uncached("pg", Put(table=unique_table, key="k", values={"v": 1}))

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            with sync.connection("pg") as conn, conn.transaction():
                conn.execute(f'lock table "{unique_table}" in access exclusive mode')
                task = asyncio.create_task(hub.execute("pg", Get(table=unique_table, key="k")))
                while not hub.pool_stats().get("pg") or not hub.pool_stats()["pg"].used:
                    await asyncio.sleep(0.001)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert {stats.used for stats in hub.pool_stats().values()} == {0}
            with sync.connection("store") as client:
                assert not client.exists(f"cache:pg:{unique_table}:k")
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows[0]["values"] == {"v": 1}

    run(main)


def test_a_failing_store_reads_the_source_and_refuses_to_acknowledge_a_write(
    make_config: Callable[..., dict[str, Any]], unique_table: str, free_port: int
) -> None:
    async def main() -> None:
        async with dbplex.open_async(make_config(store_url=f"redis://127.0.0.1:{free_port}/0")) as hub:
            with pytest.raises(CacheInvalidationError, match="reached the source"):
                await hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
            assert (await hub.execute("pg", Get(table=unique_table, key="k"))).rows == [
                {"key": "k", "values": {"v": 1}}
            ]
            assert hub.cache is not None
            stats = hub.cache.stats()[f"pg.{unique_table}"]
            assert (stats.hits, stats.misses, stats.errors) == (0, 0, 2)

    run(main)


def test_cache_metrics_are_exported_to_prometheus(config: dict[str, Any], unique_table: str) -> None:
    pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
    from prometheus_client.parser import text_string_to_metric_families

    from dbplex.metrics.prometheus import exposition

    async def main() -> str:
        async with dbplex.open_async({**config, "metrics": {"enabled": True, "otel": False}}) as hub:
            await hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
            for _ in range(3):
                await hub.execute("pg", Get(table=unique_table, key="k"))
            return exposition(hub)

    samples = [s for family in text_string_to_metric_families(run(main)) for s in family.samples]
    found = {
        (s.name, s.labels.get("result", "")): s.value for s in samples if s.labels.get("table") == f"pg.{unique_table}"
    }
    # the cache's own calls are operations of the store source: an invalidation, 3 lookups, a fill
    store_ops = {
        s.labels["db_operation_name"]: s.value
        for s in samples
        if s.name == "db_client_operation_duration_seconds_count"
        and s.labels["db_client_connection_pool_name"] == "store"
    }
    assert store_ops == {"Command": 5}
    assert found[("dbplex_cache_requests_total", "hit")] == 2
    assert found[("dbplex_cache_requests_total", "miss")] == 1
    assert found[("dbplex_cache_invalidations_total", "")] == 1
    assert found[("dbplex_cache_hit_age_seconds_count", "")] == 2
