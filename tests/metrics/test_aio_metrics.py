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


# -- exporters reading an async hub -----------------------------------------------------------------


async def scrape(app: Any) -> str:
    """One ``GET /metrics`` through the ASGI ``app`` on the running loop: the response body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}
    await app(scope, receive, send)
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 200
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()


def test_the_prometheus_asgi_app_serves_an_async_hub_s_ops_pools_and_server_resources(
    dbplex_servers: Servers, unique_table: str
) -> None:
    """The exposition of an async hub has its ops, its pools and, checked by the scrape itself
    on the hub's loop, its servers' resources."""
    pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
    from prometheus_client.parser import text_string_to_metric_families

    from dbplex.metrics import prometheus_asgi_app

    def samples(text: str, name: str) -> list[Any]:
        return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]

    async def main() -> None:
        settings = config(dbplex_servers, "pg", "redis")
        settings["metrics"]["resources_interval"] = 3600
        async with dbplex.open_async(settings) as hub:
            await hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
            await asyncio.gather(*(hub.execute("redis", Get(table=unique_table, key="k")) for _ in range(3)))
            app = prometheus_asgi_app(hub)
            body = await scrape(app)
            counted = {
                s.labels["db_operation_name"]: s.value
                for s in samples(body, "db_client_operation_duration_seconds_count")
            }
            assert counted == {"Put": 1, "Get": 3}
            idle = {
                s.labels["db_client_connection_pool_name"]
                for s in samples(body, "db_client_connection_count")
                if s.labels["db_client_connection_state"] == "idle"
            }
            assert idle == {"pg", "redis"}
            connections = samples(body, "dbplex_server_connection_count")
            assert {s.labels["db_client_connection_pool_name"] for s in connections} == {"pg", "redis"}
            checked = hub.pool_stats()["redis"].acquired
            await scrape(app)
            assert hub.pool_stats()["redis"].acquired == checked, "a scrape within the interval ran a health check"

    asyncio.run(main())


def test_opentelemetry_records_an_async_hub_s_ops_and_pool_times(dbplex_servers: Servers, unique_table: str) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk (the test extra) is not installed")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from dbplex.metrics.otel import record_into_otel

    async def main() -> None:
        async with dbplex.open_async(config(dbplex_servers, "redis")) as hub:
            reader = InMemoryMetricReader()
            provider = sdk.MeterProvider(metric_readers=[reader])
            assert record_into_otel(hub, provider)
            await hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
            await asyncio.gather(*(hub.execute("redis", Get(table=unique_table, key="k")) for _ in range(4)))
            data = reader.get_metrics_data()
            assert data is not None
            found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
            assert {
                p.attributes["db.operation.name"]: p.count
                for p in found["db.client.operation.duration"].data.data_points
            } == {
                "Put": 1,
                "Get": 4,
            }
            (wait,) = found["db.client.connection.wait_time"].data.data_points
            (use,) = found["db.client.connection.use_time"].data.data_points
            assert wait.count == use.count == hub.pool_stats()["redis"].acquired == 5
            provider.shutdown()

    asyncio.run(main())
