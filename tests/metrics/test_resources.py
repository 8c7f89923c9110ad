"""Server resources in health checks, against the test session's real servers: the values are
the ones the server reports itself, and they reach Prometheus and OpenTelemetry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put
from dbplex.health import Resources
from dbplex.testing.plugin import Servers

prometheus_client = pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dbplex.metrics import prometheus_asgi_app  # noqa: E402
from dbplex.metrics.prometheus import exposition  # noqa: E402


@pytest.fixture
def hub_of(dbplex_servers: Servers) -> Iterator[Callable[..., dbplex.Hub]]:
    """``hub_of(*backends, **metrics)`` opens a hub with one source per backend, named after it,
    metrics on (``[metrics]`` fields as keywords) and OpenTelemetry off unless asked."""
    hubs: list[dbplex.Hub] = []

    def make(*backends: str, **metrics: Any) -> dbplex.Hub:
        sources = {b: {"url": dbplex_servers.url(b)} for b in backends}
        hub = dbplex.open({"sources": sources, "metrics": {"enabled": True, "otel": False, **metrics}})
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def resources(hub: dbplex.Hub, source: str) -> Resources:
    (check,) = hub.health([source]).sources
    assert check.status is dbplex.Status.UP, check.error
    assert check.resources is not None, "the health check read no resources"
    return check.resources


def samples(text: str, name: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_postgresql_resources_are_what_the_server_reports(
    hub_of: Callable[..., dbplex.Hub], dbplex_servers: Servers
) -> None:
    psycopg = pytest.importorskip("psycopg", reason="the pg plugin is not installed")
    hub = hub_of("pg")
    with psycopg.connect(dbplex_servers.url("pg"), autocommit=True) as own:  # idle while the check runs
        (before,) = own.execute("SELECT pg_database_size(current_database())").fetchone()
        found = resources(hub, "pg")
        (after,) = own.execute("SELECT pg_database_size(current_database())").fetchone()
        (most,) = own.execute("SELECT current_setting('max_connections')::int").fetchone()
    assert min(before, after) <= found.database_bytes <= max(before, after)
    assert found.connections_by_state.get("idle", 0) >= 1, "the test's own idle connection is counted"
    assert found.connections_by_state.get("active", 0) >= 1, "the check's own connection is active"
    assert found.connections == sum(found.connections_by_state.values())
    assert found.connections_max == most
    assert found.memory_bytes is None  # PostgreSQL reports none for the whole server
    assert found.cache_hits is not None and found.cache_misses is not None and found.cache_hits > 0
    assert set(found.operations) == {"commit", "rollback"} and found.operations["commit"] > 0
    assert found.replica_lag_seconds == {}  # the sandbox's server streams to no replica


def test_redis_resources_count_the_keyspace_hits_and_misses_made(
    hub_of: Callable[..., dbplex.Hub], dbplex_servers: Servers, unique_table: str
) -> None:
    redis = pytest.importorskip("redis", reason="the redis plugin is not installed")
    hub = hub_of("redis")
    client = redis.Redis.from_url(dbplex_servers.url("redis"))
    try:
        client.set(f"{unique_table}:k", b"v")
        first = resources(hub, "redis")
        for _ in range(7):
            client.get(f"{unique_table}:k")
        for _ in range(3):
            client.get(f"{unique_table}:missing")
        second = resources(hub, "redis")
        maxclients = int(client.config_get("maxclients")["maxclients"])
        client.delete(f"{unique_table}:k")
    finally:
        client.close()
    assert first.cache_hits is not None and second.cache_hits is not None
    assert first.cache_misses is not None and second.cache_misses is not None
    assert (second.cache_hits - first.cache_hits, second.cache_misses - first.cache_misses) == (7, 3)
    assert second.operations["command"] - first.operations["command"] >= 10
    assert second.memory_bytes is not None and second.memory_bytes > 0
    assert second.connections is not None and second.connections >= 2  # the hub's and the test's client
    assert second.connections == sum(second.connections_by_state.values())
    assert second.connections_max == maxclients
    assert second.database_bytes is None  # Redis keeps no size per database
    assert second.hit_ratio is not None and 0 < second.hit_ratio < 1


def test_mongodb_resources_are_read_as_far_as_the_server_reports(
    hub_of: Callable[..., dbplex.Hub], dbplex_servers: Servers
) -> None:
    pymongo = pytest.importorskip("pymongo", reason="the mongo plugin is not installed")
    hub = hub_of("mongo")
    found = resources(hub, "mongo")
    client: Any = pymongo.MongoClient(dbplex_servers.url("mongo"))
    try:
        status = client.admin.command("serverStatus")
        db_stats = client.get_default_database().command("dbStats")
    finally:
        client.close()
    assert found.connections is not None and found.connections >= 1
    assert found.connections_max is not None
    assert found.database_bytes == db_stats.get("totalSize", found.database_bytes)
    if status.get("process") in ("mongod", "mongos"):  # current + available: the server's fixed limit
        assert found.connections_max == status["connections"]["current"] + status["connections"]["available"]
        assert found.memory_bytes == status["mem"]["resident"] << 20
        assert set(found.operations) >= {"insert", "query", "update", "delete", "command"}
    else:  # the sandbox's stand-in: a fixed `available`, memory in its own unit, no opcounters
        assert found.connections_max - found.connections == status["connections"]["available"]
        assert found.memory_bytes is None and "mem" in found.extra


def test_server_resources_are_exported_with_the_pool_attributes(hub_of: Callable[..., dbplex.Hub]) -> None:
    hub = hub_of("pg", "redis")
    text = exposition(hub)
    connections = samples(text, "dbplex_server_connection_count")
    assert {s.labels["db_client_connection_pool_name"] for s in connections} == {"pg", "redis"}
    assert {
        s.labels["dbplex_server_connection_state"] for s in connections if s.labels["db_system_name"] == "redis"
    } == {
        "blocked",
        "other",
    }
    (size,) = samples(text, "dbplex_server_database_size_bytes")
    assert size.labels["db_system_name"] == "postgresql" and size.value > 0
    (memory,) = samples(text, "dbplex_server_memory_usage_bytes")
    assert memory.labels["db_client_connection_pool_name"] == "redis" and memory.value > 0
    assert {s.labels["db_system_name"] for s in samples(text, "dbplex_server_cache_hits_total")} == {
        "postgresql",
        "redis",
    }
    kinds = {
        (s.labels["db_system_name"], s.labels["dbplex_server_operation_kind"])
        for s in samples(text, "dbplex_server_operations_total")
    }
    assert kinds == {("postgresql", "commit"), ("postgresql", "rollback"), ("redis", "command")}


def test_scrapes_within_the_interval_read_the_servers_once(hub_of: Callable[..., dbplex.Hub]) -> None:
    hub = hub_of("redis", resources_interval=3600)
    exposition(hub)
    checked = hub.pool_stats()["redis"].acquired
    for _ in range(5):
        exposition(hub)
    assert hub.pool_stats()["redis"].acquired == checked, "a scrape within the interval ran a health check"
    every = hub_of("redis", resources_interval=0)
    exposition(every)
    checked = every.pool_stats()["redis"].acquired
    exposition(every)
    assert every.pool_stats()["redis"].acquired > checked, "with no interval, each scrape reads the server"


def test_resources_off_reads_no_server(hub_of: Callable[..., dbplex.Hub]) -> None:
    hub = hub_of("redis", resources=False)
    assert samples(exposition(hub), "dbplex_server_connection_count") == []
    assert "redis" not in hub.pool_stats(), "no health check opened the pool"


@pytest.mark.parametrize("backend", ["pg", "redis", "mongo"])
def test_pool_histograms_count_every_checkout(
    hub_of: Callable[..., dbplex.Hub], unique_table: str, backend: str
) -> None:
    hub = hub_of(backend, resources=False)
    hub.execute(backend, Put(table=unique_table, key="k", values={"a": 1}))
    before = exposition(hub)
    for _ in range(5):
        hub.execute(backend, Get(table=unique_table, key="k"))
    after = exposition(hub)
    for kind in ("wait", "use"):
        name = f"db_client_connection_{kind}_time_seconds"
        (was,), (now,) = samples(before, f"{name}_count"), samples(after, f"{name}_count")
        assert now.value - was.value == 5, f"{kind} time histogram: one observation per checkout"
        infinite = [s for s in samples(after, f"{name}_bucket") if s.labels["le"] == "+Inf"]
        assert [s.value for s in infinite] == [now.value]
        assert now.labels["db_client_connection_pool_name"] == backend
    (created,) = samples(after, "db_client_connection_create_time_seconds_count")
    assert created.value == hub.pool_stats()[backend].create.count >= 1


def test_asgi_app_serves_the_exposition(hub_of: Callable[..., dbplex.Hub], unique_table: str) -> None:
    hub = hub_of("redis", resources=False)
    for _ in range(3):
        hub.execute("redis", Get(table=unique_table, key="k"))
    app = prometheus_asgi_app(hub)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/metrics",
        "raw_path": b"/metrics",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9464),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    (count,) = samples(body, "db_client_operation_duration_seconds_count")
    assert count.value == 3 and count.labels["db_operation_name"] == "Get"


def otel_reader(hub: dbplex.Hub) -> Any:
    """An in-memory OpenTelemetry SDK reader recording ``hub``'s metrics."""
    sdk = pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk (the test extra) is not installed")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from dbplex.metrics.otel import record_into_otel

    reader = InMemoryMetricReader()
    assert record_into_otel(hub, sdk.MeterProvider(metric_readers=[reader]))
    return reader


def otel_metrics(reader: Any) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def test_opentelemetry_records_every_checkout_in_the_pool_histograms(
    hub_of: Callable[..., dbplex.Hub], unique_table: str
) -> None:
    hub = hub_of("redis", resources=False)
    reader = otel_reader(hub)
    hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
    for _ in range(4):
        hub.execute("redis", Get(table=unique_table, key="k"))
    found = otel_metrics(reader)
    (wait,) = found["db.client.connection.wait_time"].data.data_points
    (use,) = found["db.client.connection.use_time"].data.data_points
    (create,) = found["db.client.connection.create_time"].data.data_points
    assert wait.count == use.count == 5  # the put and the gets
    assert create.count == hub.pool_stats()["redis"].create.count >= 1
    assert list(wait.explicit_bounds) == [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]
    assert wait.attributes["db.client.connection.pool.name"] == "redis"


def test_opentelemetry_observes_the_server_resources(hub_of: Callable[..., dbplex.Hub]) -> None:
    hub = hub_of("redis")
    found = otel_metrics(otel_reader(hub))
    (memory,) = found["dbplex.server.memory.usage"].data.data_points
    assert memory.value > 0 and memory.attributes["db.system.name"] == "redis"
    states = {
        p.attributes["dbplex.server.connection.state"] for p in found["dbplex.server.connection.count"].data.data_points
    }
    assert states == {"blocked", "other"}


def test_a_dropped_hub_is_freed_with_its_readings_and_pool_observer(dbplex_servers: Servers) -> None:
    import gc
    import weakref

    from dbplex import pool

    sources = {"redis": {"url": dbplex_servers.url("redis")}}
    hub = dbplex.open({"sources": sources, "metrics": {"enabled": True, "otel": False}})
    otel_reader(hub)
    observers = len(pool.observers)
    exposition(hub)  # the readings now cache the hub's checks
    hub.close()
    gone = weakref.ref(hub)
    del hub
    gc.collect()
    assert gone() is None, "something still holds the hub"
    assert len(pool.observers) == observers - 1, "its pool observer was not removed"
