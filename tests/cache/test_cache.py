"""The read-through cache against real servers: exact hit and miss counts, invalidation by writes
through dbplex in this and another process, the fill race closed, TTL expiry, a failing store,
configuration errors, and what metrics and analyze report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Delete, Get, Put, PutMany, Update
from dbplex.cache import CacheInvalidationError
from dbplex.cache.findings import cache_findings
from dbplex.errors import ConfigError
from dbplex.testing.plugin import Servers
from tests.cache.conftest import Reader

Hub = dbplex.Hub


def counts(hub: Hub | dbplex.AsyncHub, table: str) -> tuple[int, int, int, int, int]:
    assert hub.cache is not None
    s = hub.cache.stats()[table]
    return s.hits, s.misses, s.fills, s.lost, s.invalidations


@pytest.mark.parametrize("backend", ["pg", "mongo"])
def test_hits_and_misses_are_counted_exactly(open_cached: Callable[..., Hub], unique_table: str, backend: str) -> None:
    hub = open_cached(backend)
    name = f"{backend}.{unique_table}"
    record = {"n": 1, "s": "x", "b": b"\x00\xff", "f": 1e16, "l": [1, {"a": None}]}
    hub.execute(backend, Put(table=unique_table, key="k1", values=record))
    assert counts(hub, name) == (0, 0, 0, 0, 1)

    first = hub.execute(backend, Get(table=unique_table, key="k1"))  # miss, filled
    second = hub.execute(backend, Get(table=unique_table, key="k1"))  # hit
    part = hub.execute(backend, Get(table=unique_table, key="k1", fields=["s", "zz"]))  # hit, cut down
    assert first == second == hub.execute_uncached(backend, Get(table=unique_table, key="k1"))
    assert part == hub.execute_uncached(backend, Get(table=unique_table, key="k1", fields=["s", "zz"]))
    assert second.rows == [{"key": "k1", "values": record}]

    assert hub.execute(backend, Get(table=unique_table, key="absent")).rows == []  # miss: "no record" is cached
    assert hub.execute(backend, Get(table=unique_table, key="absent")).rows == []  # hit
    assert counts(hub, name) == (3, 2, 2, 0, 1)

    hub.execute(backend, Update(table=unique_table, key="k1", values={"n": 2}))
    assert hub.execute(backend, Get(table=unique_table, key="k1")).rows[0]["values"]["n"] == 2  # miss
    hub.execute(backend, Delete(table=unique_table, key="k1"))
    assert hub.execute(backend, Get(table=unique_table, key="k1")).rows == []  # miss
    assert hub.execute(backend, Get(table=unique_table, key="k1")).rows == []  # hit
    assert counts(hub, name) == (4, 4, 4, 0, 3)

    assert hub.cache is not None
    stats = hub.cache.stats()[name]
    assert stats.hit_ratio == 0.5
    shared = hub.cache.shared_stats()[name]  # this table's counts are this hub's alone
    assert (shared.hits, shared.misses, shared.fills, shared.invalidations) == (4, 4, 4, 3)


def test_put_many_deletes_the_entry_of_every_record_it_wrote(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached("pg")
    hub.execute("pg", Put(table=unique_table, key="a", values={"v": 1}))
    for key in ("a", "b"):  # cached: a record, and "no record"
        hub.execute("pg", Get(table=unique_table, key=key))
    hub.execute("pg", PutMany(table=unique_table, records={"a": {"v": 2}, "b": {"v": 3}}))
    assert [hub.execute("pg", Get(table=unique_table, key=k)).one()["values"] for k in ("a", "b")] == [
        {"v": 2},
        {"v": 3},
    ]
    assert counts(hub, f"pg.{unique_table}")[4] == 1 + 2


def test_a_table_not_configured_and_a_scan_pass_through_uncounted(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached()
    other = unique_table + "_other"
    hub.execute("pg", Put(table=other, key="k", values={"v": 1}))
    hub.execute("pg", Get(table=other, key="k"))
    hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
    assert [r["key"] for r in hub.execute("pg", dbplex.Scan(table=unique_table))] == ["k"]
    assert counts(hub, f"pg.{unique_table}") == (0, 0, 0, 0, 1)
    assert hub.cache is not None and not hub.cache.cached("pg", other)


def test_the_entry_lives_in_the_store_under_its_key_with_the_ttl(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached(ttl=60)
    hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
    hub.execute("pg", Get(table=unique_table, key="k"))
    with hub.connection("store") as client:
        left = client.pttl(f"cache:pg:{unique_table}:k")
    assert 0 < left <= 60_000


def test_a_write_in_another_process_is_read_at_once(
    open_cached: Callable[..., Hub], reader_process: Reader, unique_table: str
) -> None:
    """Process B caches a record; process A (this one) writes it through dbplex; B's next read
    returns the new value. The steps are ordered by B's stdin and stdout, not by time."""
    read = reader_process
    writer = open_cached()
    writer.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
    assert read("k") == {"rows": [{"key": "k", "values": {"v": "old"}}], "hits": 0, "misses": 1}
    assert read("k") == {"rows": [{"key": "k", "values": {"v": "old"}}], "hits": 1, "misses": 1}
    writer.execute("pg", Put(table=unique_table, key="k", values={"v": "new"}))  # acknowledged here
    assert read("k") == {"rows": [{"key": "k", "values": {"v": "new"}}], "hits": 1, "misses": 2}
    assert read("k") == {"rows": [{"key": "k", "values": {"v": "new"}}], "hits": 2, "misses": 2}
    # and the other way: B's fill serves A's next read
    assert writer.execute("pg", Get(table=unique_table, key="k")).rows == [{"key": "k", "values": {"v": "new"}}]
    assert counts(writer, f"pg.{unique_table}") == (1, 0, 0, 0, 2)


def test_a_fill_that_read_before_a_write_stores_nothing(open_cached: Callable[..., Hub], unique_table: str) -> None:
    """The race: a miss reads the old value, a write lands and deletes the key, then the miss
    would store the old value. The write happens in ``before_fill``, between the two, every time."""
    reader, writer = open_cached(), open_cached()
    name = f"pg.{unique_table}"
    reader.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
    assert reader.cache is not None

    def write_in_between(table: str, key: str) -> None:
        assert (table, key) == (name, "k")
        writer.execute("pg", Put(table=unique_table, key="k", values={"v": "new"}))

    reader.cache.before_fill = write_in_between
    # this read began before the write was acknowledged: the old value is a correct answer
    assert reader.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": "old"}
    reader.cache.before_fill = None
    assert counts(reader, name) == (0, 1, 0, 1, 1)
    # after the write: the new value, from the source (a miss), never the old one from the store
    assert reader.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": "new"}
    assert counts(reader, name) == (0, 2, 1, 1, 1)


def test_a_transaction_deletes_its_records_entries_after_the_commit(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached()
    hub.execute("pg", Put(table=unique_table, key="a", values={"v": 1}))
    hub.execute("pg", Put(table=unique_table, key="b", values={"v": 1}))
    for key in ("a", "b"):
        hub.execute("pg", Get(table=unique_table, key=key))
    with hub.transaction("pg") as tx:
        tx.execute(Update(table=unique_table, key="a", values={"v": 2}))
        tx.execute(Delete(table=unique_table, key="b"))
    assert hub.execute("pg", Get(table=unique_table, key="a")).rows[0]["values"] == {"v": 2}
    assert hub.execute("pg", Get(table=unique_table, key="b")).rows == []
    assert counts(hub, f"pg.{unique_table}") == (0, 4, 4, 0, 4)


def test_an_entry_expires_after_its_ttl_so_a_write_outside_dbplex_is_seen(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached(ttl=0.2)
    hub.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
    hub.execute("pg", Get(table=unique_table, key="k"))
    hub.execute_uncached("pg", Put(table=unique_table, key="k", values={"v": "new"}))  # not seen by the cache
    assert hub.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": "old"}  # hit
    with hub.connection("store") as client:
        deadline = time.monotonic() + 30
        while client.exists(f"cache:pg:{unique_table}:k"):
            assert time.monotonic() < deadline, "the entry outlived its ttl by 30 s"
            time.sleep(0.05)
    assert hub.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": "new"}
    assert counts(hub, f"pg.{unique_table}")[:2] == (1, 2)


def test_invalidate_deletes_entries_for_writes_dbplex_did_not_see(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached()
    hub.execute("pg", Put(table=unique_table, key="k", values={"v": "old"}))
    hub.execute("pg", Get(table=unique_table, key="k"))
    hub.execute_uncached("pg", Put(table=unique_table, key="k", values={"v": "new"}))
    assert hub.cache is not None
    hub.cache.invalidate("pg", unique_table, ["k"])
    assert hub.execute("pg", Get(table=unique_table, key="k")).rows[0]["values"] == {"v": "new"}


def test_a_failing_store_reads_the_source_and_refuses_to_acknowledge_a_write(
    open_cached: Callable[..., Hub], unique_table: str, free_port: int
) -> None:
    hub = open_cached(store_url=f"redis://127.0.0.1:{free_port}/0")
    with pytest.raises(CacheInvalidationError, match="reached the source"):
        hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
    assert hub.execute("pg", Get(table=unique_table, key="k")).rows == [{"key": "k", "values": {"v": 1}}]
    assert hub.cache is not None
    stats = hub.cache.stats()[f"pg.{unique_table}"]
    assert (stats.hits, stats.misses, stats.errors) == (0, 0, 2)


def test_a_low_hit_ratio_is_an_analyze_finding(open_cached: Callable[..., Hub], unique_table: str) -> None:
    hub = open_cached(min_reads=4, min_hit_ratio=0.5)
    assert cache_findings(hub) == []
    for key in ("a", "b", "c", "d"):  # four misses, no hit
        hub.execute("pg", Get(table=unique_table, key=key))
    [finding] = cache_findings(hub)
    assert (finding.code, finding.source, finding.subject) == ("cache.low_hit_ratio", "pg", f"pg.{unique_table}")
    assert finding.evidence["hits"] == 0 and finding.evidence["misses"] == 4
    for _ in range(4):  # four hits: 50%, not below the threshold
        hub.execute("pg", Get(table=unique_table, key="a"))
    assert cache_findings(hub) == []


def test_cache_metrics_are_exported_to_prometheus(
    make_config: Callable[..., dict[str, Any]], unique_table: str
) -> None:
    pytest.importorskip("prometheus_client", reason="the dbplex[prometheus] extra is not installed")
    from prometheus_client.parser import text_string_to_metric_families

    from dbplex.metrics.prometheus import exposition

    with dbplex.open({**make_config(), "metrics": {"enabled": True, "otel": False}}) as hub:
        hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
        for _ in range(3):
            hub.execute("pg", Get(table=unique_table, key="k"))
        text = exposition(hub)
        assert hub.cache is not None
        hub.cache.reset_shared_stats()
    found = {
        (s.name, s.labels.get("result", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("dbplex_cache") and s.labels["table"] == f"pg.{unique_table}"
    }
    assert found[("dbplex_cache_requests_total", "hit")] == 2
    assert found[("dbplex_cache_requests_total", "miss")] == 1
    assert found[("dbplex_cache_invalidations_total", "")] == 1
    assert found[("dbplex_cache_hit_age_seconds_count", "")] == 2


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"store": "nowhere", "tables": {}}, "`cache.store` is 'nowhere', which is not a configured source"),
        ({"tables": {"pg.t": {}}}, "`cache.store` is missing"),
        ({"store": "store", "tables": {"nope.t": {}}}, "`cache.tables.nope.t` must be named SOURCE.TABLE"),
        ({"store": "store", "tables": {"pg.no-table": {}}}, "the table 'no-table' must be an identifier"),
        ({"store": "store", "tables": {"pg.t": {"ttl": 0}}}, "Expected `float` > 0.0 - at `cache.tables.pg.t.ttl`"),
        (
            {"store": "pg", "tables": {"pg.t": {}}},
            "`cache.store` is 'pg', a pg source: the cache store must be a Redis",
        ),
    ],
)
def test_a_bad_cache_configuration_exits_2_with_one_line(
    dbplex_servers: Servers, tmp_path: Path, cache: dict[str, Any], message: str
) -> None:
    config = {
        "sources": {"pg": {"url": dbplex_servers.url("pg")}, "store": {"url": dbplex_servers.url("redis")}},
        "cache": cache,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        dbplex.open(config).close()
    path = tmp_path / "dbplex.toml"
    path.write_text(toml(config))
    done = subprocess.run(
        [sys.executable, "-m", "dbplex.cli.main", "--config", str(path), "health"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr


def toml(data: dict[str, Any], prefix: str = "") -> str:
    """``data`` (nested dicts of strings, numbers and tables) as TOML; keys quoted."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((f"{prefix}{json.dumps(key)}", value))
        else:
            lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    for name, value in tables:
        text += f"[{name}]\n" + toml(value, f"{name}.")
    return text


def test_cache_counts_are_observed_by_opentelemetry(
    make_config: Callable[..., dict[str, Any]], unique_table: str
) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk (the test extra) is not installed")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from dbplex.metrics.otel import record_into_otel

    reader = InMemoryMetricReader()
    provider = sdk.MeterProvider(metric_readers=[reader])
    with dbplex.open({**make_config(), "metrics": {"enabled": True, "otel": False}}) as hub:
        assert record_into_otel(hub, provider)
        hub.execute("pg", Put(table=unique_table, key="k", values={"v": 1}))
        for _ in range(3):
            hub.execute("pg", Get(table=unique_table, key="k"))
        data = reader.get_metrics_data()
        assert hub.cache is not None
        hub.cache.reset_shared_stats()
    provider.shutdown()
    assert data is not None
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    requests = {
        p.attributes["dbplex.cache.result"]: p.value
        for p in found["dbplex.cache.requests"].data.data_points
        if p.attributes["dbplex.cache.table"] == f"pg.{unique_table}"
    }
    assert requests == {"hit": 2, "miss": 1}
    (invalidated,) = found["dbplex.cache.invalidations"].data.data_points
    assert invalidated.value == 1


def test_a_miss_whose_source_read_fails_gives_its_lease_back(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    hub = open_cached()
    assert hub.cache is not None
    with hub.connection("pg") as conn:
        conn.execute(f'create table "{unique_table}" (wrong int)')  # the backend's Get fails on this shape
        conn.commit()
    with pytest.raises(dbplex.DbplexError):
        hub.execute("pg", Get(table=unique_table, key="k"))
    with hub.connection("store") as client:
        assert not client.exists(f"cache:pg:{unique_table}:k")


def test_dbplex_analyze_reports_the_cache_finding_with_the_cached_source(
    open_cached: Callable[..., Hub], unique_table: str
) -> None:
    from dbplex.analyze.run import analyze

    hub = open_cached(min_reads=2, min_hit_ratio=0.5)
    for key in ("a", "b"):  # two misses, no hit
        hub.execute("pg", Get(table=unique_table, key=key))
    [pg] = analyze(hub, ["pg"])
    [finding] = [f for f in pg.findings if f.code == "cache.low_hit_ratio"]
    assert finding.subject == f"pg.{unique_table}"
