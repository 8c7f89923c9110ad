"""``async for change in async_hub.watch(...)`` against real servers: the same changes and
positions as the sync hub's watch, resumable, and a cancelled consumer holds no connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import dbplex
from dbplex.changes import Change
from dbplex.ops import Delete, Put, Update
from tests.watch.conftest import Watched

#: ends a watch that would otherwise wait for changes that never come (a failing test, not a timing).
GIVE_UP = 30.0


def async_config(watched: Watched) -> dict[str, Any]:
    if watched.source == "mongo":
        pytest.skip("MongoDB has no asyncio change feed (test_a_backend_without_an_async_feed_is_refused)")
    return {"sources": {watched.source: {"url": watched.url}}}


def write(watched: Watched) -> None:
    hub, source, table = watched.hub, watched.source, watched.table
    hub.execute(source, Put(table, "k1", {"name": "first", "n": 1}))
    hub.execute(source, Update(table, "k1", {"n": 2}))
    hub.execute(source, Delete(table, "k1"))


async def collect(hub: dbplex.AsyncHub, watched: Watched, count: int, after: str | None) -> list[Change]:
    watch = hub.watch(watched.source, watched.table, after=after, timeout=GIVE_UP, count=count)
    return [change async for change in watch]


def test_insert_update_delete_arrive_in_order_as_the_sync_watch_gives_them(watched: Watched) -> None:
    config = async_config(watched)

    async def main() -> tuple[str, list[Change]]:
        async with dbplex.open_async(config) as hub:
            watch = hub.watch(watched.source, watched.table, timeout=GIVE_UP, count=3)
            start = await watch.start()  # from now: before the writes
            assert watch.position == start
            await asyncio.get_running_loop().run_in_executor(None, write, watched)
            return start, [change async for change in watch]

    start, got = asyncio.run(main())
    assert [(c.op, c.key, c.values) for c in got] == [
        ("insert", "k1", {"name": "first", "n": 1}),
        ("update", "k1", {"name": "first", "n": 2}),
        ("delete", "k1", {}),
    ]
    with watched.hub.watch(watched.source, watched.table, after=start, timeout=GIVE_UP, count=3) as sync_watch:
        assert list(sync_watch) == got  # the same changes, values and positions


def test_resuming_after_a_stored_position_gives_everything_after_it(watched: Watched) -> None:
    config = async_config(watched)
    with watched.hub.watch(watched.source, watched.table, timeout=0.1) as before:
        start = before.position
    write(watched)

    async def main() -> tuple[list[Change], list[Change]]:
        async with dbplex.open_async(config) as hub:
            seen = await collect(hub, watched, 3, start)
            return seen, await collect(hub, watched, 2, seen[0].position)

    seen, again = asyncio.run(main())
    assert [c.op for c in seen] == ["insert", "update", "delete"]
    assert [(c.op, c.key, c.position) for c in again] == [(c.op, c.key, c.position) for c in seen[1:]]


def test_a_cancelled_consumer_leaves_no_connection_in_use(watched: Watched) -> None:
    config = async_config(watched)

    async def main() -> list[Change]:
        async with dbplex.open_async(config) as hub:
            watch = hub.watch(watched.source, watched.table)  # no timeout, no count: only cancelling ends it
            start = await watch.start()
            task = asyncio.create_task(collect_forever(watch))
            while not hub.pool_stats()[watched.source].used:  # the consumer waits on the server
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert hub.pool_stats()[watched.source].used == 0
            await asyncio.get_running_loop().run_in_executor(None, write, watched)
            return await collect(hub, watched, 3, start)  # the pool still serves

    assert [c.op for c in asyncio.run(main())] == ["insert", "update", "delete"]


async def collect_forever(watch: Any) -> None:
    async for _ in watch:
        pass


@pytest.mark.parametrize("backend", ["pg", "redis"])
def test_a_table_not_recorded_is_refused_as_the_sync_hub_refuses_it(
    backend: str, dbplex_servers: Any, unique_table: str
) -> None:
    config = {"sources": {backend: {"url": dbplex_servers.url(backend)}}}
    with dbplex.open(config) as hub, pytest.raises(dbplex.ConfigError) as sync_error:
        hub.watch(backend, unique_table)

    async def main() -> None:
        async with dbplex.open_async(config) as hub:
            with pytest.raises(dbplex.ConfigError) as async_error:
                async for _ in hub.watch(backend, unique_table):
                    pass
            assert str(async_error.value) == str(sync_error.value)
            assert hub.pool_stats()[backend].used == 0

    asyncio.run(main())


def test_a_backend_without_an_async_feed_is_refused_naming_the_hook(dbplex_servers: Any) -> None:
    async def main() -> None:
        async with dbplex.open_async({"sources": {"m": {"url": dbplex_servers.url("mongo")}}}) as hub:
            with pytest.raises(dbplex.UnsupportedError, match=r"source 'm'.*no dbplex_async_watch hook"):
                hub.watch("m", "events")

    asyncio.run(main())


def test_resuming_from_before_a_prune_is_refused_as_on_the_sync_hub(watched: Watched) -> None:
    from dbplex.errors import ChangesPruned
    from tests.watch.test_feed import _written

    config = async_config(watched)
    start, (insert, update, delete) = _written(watched)
    feed = watched.hub.change_feed(watched.source)
    try:
        feed.prune([watched.table], insert.position)
    finally:
        feed.close()

    async def main() -> list[Change]:
        async with dbplex.open_async(config) as hub:
            with pytest.raises(ChangesPruned, match="were pruned"):
                await collect(hub, watched, 2, start)
            return await collect(hub, watched, 2, insert.position)

    assert [c.position for c in asyncio.run(main())] == [update.position, delete.position]
