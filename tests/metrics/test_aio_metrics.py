"""Operation metrics under asyncio: an async hub's ops go into the same series, with the same
attributes, as the sync hub's; counts are exact after concurrent ops, failures and cancellations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, plugins
from dbplex.metrics.recorder import MetricsPlugin
from dbplex.testing.plugin import Servers

BACKENDS = ("pg", "redis", "mongo")


def config(dbplex_servers: Servers, *backends: str, enabled: bool = True) -> dict[str, Any]:
    sources = {b: {"url": dbplex_servers.url(b)} for b in backends}
    return {"sources": sources, "metrics": {"enabled": enabled, "otel": False}}


def counts(metrics: MetricsPlugin | None) -> dict[tuple[Any, str, str | None], int]:
    assert metrics is not None
    return {(s.attributes, s.operation, s.error_type): s.count for s in metrics.series()}


def test_async_ops_are_counted_exactly_in_the_sync_hub_s_series(dbplex_servers: Servers, unique_table: str) -> None:
    """The same ops through both hubs give the same series: attributes, operation names, counts."""
    with dbplex.open(config(dbplex_servers, *BACKENDS)) as hub:
        for source in BACKENDS:
            hub.execute(source, Put(table=unique_table, key="k", values={"a": 1}))
            for _ in range(7):
                hub.execute(source, Get(table=unique_table, key="k"))
        sync_counts = counts(hub.metrics)

    async def main() -> dict[tuple[Any, str, str | None], int]:
        async with dbplex.open_async(config(dbplex_servers, *BACKENDS)) as hub:
            for source in BACKENDS:
                await hub.execute(source, Put(table=unique_table, key="k", values={"a": 1}))
                # concurrently: all 7 on the loop's one thread at once
                await asyncio.gather(*(hub.execute(source, Get(table=unique_table, key="k")) for _ in range(7)))
            return counts(hub.metrics)

    async_counts = asyncio.run(main())
    assert async_counts == sync_counts
    assert sorted((a.pool, op, n) for (a, op, _), n in async_counts.items()) == sorted(
        [(b, "Put", 1) for b in BACKENDS] + [(b, "Get", 7) for b in BACKENDS]
    )


def test_many_concurrent_async_ops_are_counted_exactly(dbplex_servers: Servers, unique_table: str) -> None:
    async def main() -> None:
        async with dbplex.open_async(config(dbplex_servers, "redis")) as hub:
            await hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
            for _ in range(5):
                await asyncio.gather(*(hub.execute("redis", Get(table=unique_table, key="k")) for _ in range(64)))
            assert {(op, error): n for (_, op, error), n in counts(hub.metrics).items()} == {
                ("Put", None): 1,
                ("Get", None): 320,
            }

    asyncio.run(main())


def test_failed_and_cancelled_async_ops_are_counted_with_their_error_type(dbplex_servers: Servers) -> None:
    sql = pytest.importorskip("dbplex_pg.ops", reason="the pg plugin is not installed").SQL

    async def main() -> None:
        async with dbplex.open_async(config(dbplex_servers, "pg")) as hub:
            with pytest.raises(dbplex.DbplexError) as raised:
                await hub.execute("pg", sql(text="select * from no_such_table_for_metrics"))
            await hub.execute("pg", sql(text="select 1"))
            sleeping = asyncio.create_task(hub.execute("pg", sql(text="select pg_sleep(30)")))
            await asyncio.sleep(0.3)  # a bound for the query to be running, not a measurement
            sleeping.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sleeping
            found = {(op, error): n for (_, op, error), n in counts(hub.metrics).items()}
            assert found == {("SQL", type(raised.value).__name__): 1, ("SQL", None): 1, ("SQL", "CancelledError"): 1}

    asyncio.run(main())


def test_async_metrics_off_registers_no_wrapper_and_closing_unregisters_it(dbplex_servers: Servers) -> None:
    def wrappers() -> list[object]:
        return [p for p in plugins.default().manager.get_plugins() if isinstance(p, MetricsPlugin)]

    async def main() -> None:
        off = dbplex.open_async(config(dbplex_servers, "redis", enabled=False))
        assert off.metrics is None and wrappers() == []
        on = dbplex.open_async(config(dbplex_servers, "redis"))
        assert wrappers() == [on.metrics]
        await off.execute("redis", Get(table="t", key="k"))  # another hub's op: not recorded
        await on.execute("redis", Get(table="t", key="k"))
        assert {(op, n) for (_, op, _), n in counts(on.metrics).items()} == {("Get", 1)}
        await on.aclose()
        await off.aclose()
        assert wrappers() == []

    asyncio.run(main())
