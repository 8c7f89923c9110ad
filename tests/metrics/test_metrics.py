"""Operation and pool metrics against the test session's real servers: the values equal what the
test did, the Prometheus exposition parses, ``dbplex metrics serve`` answers, off means unwrapped."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, plugins
from dbplex.metrics.recorder import MetricsPlugin
from dbplex.testing.plugin import Servers

prometheus_client = pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from dbplex.metrics.prometheus import exposition  # noqa: E402


@pytest.fixture
def metered(dbplex_servers: Servers) -> Iterator[Callable[..., dbplex.Hub]]:
    """``metered(*backends)`` opens a hub with metrics on and one source per backend, named after it."""
    hubs: list[dbplex.Hub] = []

    def make(*backends: str, enabled: bool = True) -> dbplex.Hub:
        sources = {b: {"url": dbplex_servers.url(b)} for b in backends}
        hub = dbplex.open({"sources": sources, "metrics": {"enabled": enabled, "otel": False}})
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def samples(text: str, name: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_n_gets_are_counted_per_source_and_operation(metered: Callable[..., dbplex.Hub], unique_table: str) -> None:
    hub = metered("pg", "redis")
    for source in ("pg", "redis"):
        hub.execute(source, Put(table=unique_table, key="k", values={"a": 1}))
        for _ in range(7):
            hub.execute(source, Get(table=unique_table, key="k"))
    text = exposition(hub)
    counts = {
        (s.labels["db_client_connection_pool_name"], s.labels["db_operation_name"]): s.value
        for s in samples(text, "db_client_operation_duration_seconds_count")
    }
    assert counts == {("pg", "Put"): 1, ("pg", "Get"): 7, ("redis", "Put"): 1, ("redis", "Get"): 7}
    systems = {
        s.labels["db_client_connection_pool_name"]: s.labels["db_system_name"]
        for s in samples(text, "db_client_operation_duration_seconds_count")
    }
    assert systems == {"pg": "postgresql", "redis": "redis"}
    infinite = [s for s in samples(text, "db_client_operation_duration_seconds_bucket") if s.labels["le"] == "+Inf"]
    assert sorted(s.value for s in infinite) == [1, 1, 7, 7]
    assert all(s.labels["error_type"] == "" for s in infinite)


def test_gets_from_many_threads_are_counted_exactly(metered: Callable[..., dbplex.Hub], unique_table: str) -> None:
    """Each thread counts its successes into a series of its own, without a lock: none is lost."""
    hub = metered("redis")
    hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
    threads, each = 8, 250
    gate = threading.Barrier(threads)

    def gets() -> None:
        gate.wait(30)
        for _ in range(each):
            hub.execute("redis", Get(table=unique_table, key="k"))

    workers = [threading.Thread(target=gets) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    text = exposition(hub)
    counts = {
        s.labels["db_operation_name"]: s.value for s in samples(text, "db_client_operation_duration_seconds_count")
    }
    assert counts == {"Put": 1, "Get": threads * each}
    infinite = {
        s.labels["db_operation_name"]: s.value
        for s in samples(text, "db_client_operation_duration_seconds_bucket")
        if s.labels["le"] == "+Inf"
    }
    assert infinite == counts


def test_a_failing_operation_is_counted_with_its_error_type(metered: Callable[..., dbplex.Hub]) -> None:
    sql = pytest.importorskip("dbplex_pg.ops", reason="the pg plugin is not installed").SQL
    hub = metered("pg")
    with pytest.raises(dbplex.DbplexError) as raised:
        hub.execute("pg", sql(text="select * from no_such_table_for_metrics"))
    hub.execute("pg", sql(text="select 1"))
    assert hub.metrics is not None
    series = {(s.operation, s.error_type): s.count for s in hub.metrics.series()}
    assert series == {("SQL", type(raised.value).__name__): 1, ("SQL", None): 1}
    errors = [
        s for s in samples(exposition(hub), "db_client_operation_duration_seconds_count") if s.labels["error_type"]
    ]
    assert [(s.labels["error_type"], s.value) for s in errors] == [(type(raised.value).__name__, 1)]


def test_pool_gauges_equal_pool_stats(metered: Callable[..., dbplex.Hub], unique_table: str) -> None:
    hub = metered("redis")
    hub.execute("redis", Put(table=unique_table, key="k", values={"a": 1}))
    with hub.connection("redis"):  # one connection held while the metrics are read
        text = exposition(hub)
        stats = hub.pool_stats()["redis"]
    state = {s.labels["db_client_connection_state"]: s.value for s in samples(text, "db_client_connection_count")}
    assert state == {"idle": stats.idle, "used": stats.used} and stats.used == 1
    assert samples(text, "db_client_connection_max")[0].value == stats.max
    assert samples(text, "db_client_connection_pending_requests")[0].value == stats.pending
    wait = samples(text, "db_client_connection_wait_time_seconds_count")[0]
    assert wait.value == stats.wait.count and wait.labels["db_system_name"] == "redis"
    assert samples(text, "db_client_connection_create_time_seconds_count")[0].value == stats.create.count


def test_metrics_off_registers_no_wrapper(metered: Callable[..., dbplex.Hub]) -> None:
    def wrappers() -> list[object]:
        return [p for p in plugins.default().manager.get_plugins() if isinstance(p, MetricsPlugin)]

    assert wrappers() == []
    off = metered("redis", enabled=False)
    assert off.metrics is None and wrappers() == []
    on = metered("redis")
    assert wrappers() == [on.metrics]
    on.close()
    assert wrappers() == []


def test_other_hubs_operations_are_not_recorded(metered: Callable[..., dbplex.Hub], unique_table: str) -> None:
    on = metered("redis")
    off = metered("redis", enabled=False)
    off.execute("redis", Get(table=unique_table, key="k"))
    on.execute("redis", Get(table=unique_table, key="k"))
    assert on.metrics is not None
    assert [(s.operation, s.count) for s in on.metrics.series()] == [("Get", 1)]


def test_metrics_serve_answers_with_the_exposition(dbplex_servers: Servers, tmp_path: Path, free_port: int) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(f'[metrics]\nenabled = true\n\n[sources.cache]\nurl = "{dbplex_servers.url("redis")}"\n')
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "metrics", "serve"]
    server = subprocess.Popen([*command, "--port", str(free_port)], stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert "serving metrics on" in server.stderr.readline()  # printed once the socket listens
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"db_client_operation_duration_seconds", "db_client_connection_count"} <= names
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_metrics_serve_needs_metrics_enabled(dbplex_servers: Servers, tmp_path: Path) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(f'[sources.cache]\nurl = "{dbplex_servers.url("redis")}"\n')
    command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), "metrics", "serve", "--port", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "[metrics] enabled = true" in done.stderr


def test_metrics_config_is_validated() -> None:
    with pytest.raises(dbplex.ConfigError, match="metrics"):
        dbplex.open({"metrics": {"enabled": "yes please"}})
    with pytest.raises(dbplex.ConfigError, match="metrics"):
        dbplex.open({"metrics": {"enable": True}})


def test_health_latency_excludes_the_connect(dbplex_servers: Servers) -> None:
    hub = dbplex.open({"sources": {"pg": {"url": dbplex_servers.url("pg")}}})
    with hub:
        first = hub.health().sources[0]
        again = hub.health().sources[0]
    assert first.connect_ms is not None and first.latency_ms is not None  # the first check opened the pool
    assert again.connect_ms is None and again.latency_ms is not None  # later ones ran on an open connection
    assert first.status is again.status is dbplex.Status.UP


def test_opentelemetry_records_operations_and_pool_gauges(
    metered: Callable[..., dbplex.Hub], unique_table: str
) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk (the test extra) is not installed")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from dbplex.metrics.otel import record_into_otel

    reader = InMemoryMetricReader()
    provider = sdk.MeterProvider(metric_readers=[reader])
    hub = metered("redis")
    assert record_into_otel(hub, provider)
    for _ in range(5):
        hub.execute("redis", Get(table=unique_table, key="k"))
    data = reader.get_metrics_data()
    assert data is not None
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    (point,) = found["db.client.operation.duration"].data.data_points
    assert point.count == 5
    assert dict(point.attributes) == {
        "db.client.connection.pool.name": "redis",
        "db.system.name": "redis",
        "db.namespace": dict(point.attributes)["db.namespace"],
        "db.operation.name": "Get",
    }
    stats = hub.pool_stats()["redis"]
    states = {
        p.attributes["db.client.connection.state"]: p.value
        for p in found["db.client.connection.count"].data.data_points
    }
    assert states == {"idle": stats.idle, "used": stats.used}
    provider.shutdown()


def test_opentelemetry_is_recorded_into_only_when_asked(dbplex_servers: Servers) -> None:
    """OTel recording costs every read even with no SDK configured, so the default leaves it out."""
    pytest.importorskip("opentelemetry.metrics", reason="opentelemetry-api (the otel extra) is not installed")
    sources = {"redis": {"url": dbplex_servers.url("redis")}}
    with dbplex.open({"sources": sources, "metrics": {"enabled": True}}) as default:
        assert default.metrics is not None and default.metrics.listeners == []
    with dbplex.open({"sources": sources, "metrics": {"enabled": True, "otel": True}}) as asked:
        assert asked.metrics is not None and len(asked.metrics.listeners) == 1
