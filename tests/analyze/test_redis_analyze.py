"""The Redis analyzer against real servers: planted problems found exactly, a clean server silent.

Key-family checks run on the shared test server under a prefix of the test's own (deleted
afterwards). Checks of server-wide counters and settings (hit ratio, eviction policy,
persistence) run on a redis-server of this session's own (``private_server``), where
``CONFIG RESETSTAT`` and ``CONFIG SET`` touch nobody else; each test restores what it set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

import dbplex
from dbplex.analyze.model import Finding, ProposedIndex, Severity
from dbplex.config import AnalyzeSourceConfig
from dbplex.errors import UnsupportedError
from dbplex_redis import cluster_url
from dbplex_redis.analyze import BIG_KEY_BYTES, RedisAnalyzer
from tests.redis.conftest import private_server, redis_url
from tests.redis.test_cluster import seed_url

__all__ = ["private_server", "redis_url", "seed_url"]  # fixtures, imported for pytest

Analyze = Callable[..., list[Finding]]


@pytest.fixture
def analyze() -> Iterator[Callable[..., list[Finding]]]:
    """``analyze(url, **settings)``: the findings of a source on ``url`` (a fresh hub each time)."""
    hubs: list[dbplex.Hub] = []

    def run(url: str, **settings: Any) -> list[Finding]:
        hub = dbplex.open({"sources": {"r": {"url": url, "pool": {"min_size": 0, "max_size": 2}}}})
        hubs.append(hub)
        pool, admin = hub.capability_pools("r")
        return RedisAnalyzer(hub.sources["r"], pool, admin).findings(AnalyzeSourceConfig(**settings))

    yield run
    for hub in hubs:
        hub.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of the test's own on the shared server; its keys are deleted afterwards."""
    name = f"dbplex_analyze_{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    doomed = list(client.scan_iter(match=f"{name}*", count=1000))
    if doomed:
        client.delete(*doomed)
    client.close()


@pytest.fixture
def shared(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def own(private_server: Path) -> Iterator[redis.Redis]:
    """A client of the session's own server, whose settings and counters are put back afterwards."""
    client = redis.Redis(unix_socket_path=str(private_server))
    kept = {name: client.config_get(name)[name] for name in ("maxmemory", "maxmemory-policy", "save", "appendonly")}
    yield client
    client.flushall()
    for name, value in kept.items():
        client.config_set(name, value)
    client.close()


def codes(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_a_key_without_ttl_in_a_ttl_family_is_found_exactly(
    analyze: Analyze, redis_url: str, shared: redis.Redis, prefix: str
) -> None:
    shared.set(f"{prefix}cache:a", "1", ex=600)
    shared.set(f"{prefix}cache:forever", "1")
    shared.hset(f"{prefix}cache:c", "f", "v")
    shared.expire(f"{prefix}cache:c", 600)
    shared.set(f"{prefix}other:x", "1")  # no TTL, but not in a TTL family
    findings = analyze(redis_url, ttl_families=[f"{prefix}cache:*"], families=[f"{prefix}other:*"])
    [missing] = codes(findings, "redis.ttl_missing")
    assert missing.severity is Severity.WARNING and missing.subject == f"{prefix}cache:*"
    assert missing.evidence == {
        "scanned": 3,
        "complete": True,
        "without_ttl": 1,
        "examples": [f"{prefix}cache:forever"],
    }


def test_the_scan_stops_at_the_sample_and_says_so(
    analyze: Analyze, redis_url: str, shared: redis.Redis, prefix: str
) -> None:
    shared.mset({f"{prefix}cache:{i}": "1" for i in range(30)})
    [missing] = codes(analyze(redis_url, ttl_families=[f"{prefix}cache:*"], sample=10), "redis.ttl_missing")
    assert missing.evidence["scanned"] == 10 and missing.evidence["complete"] is False
    assert missing.evidence["without_ttl"] == 10


def test_a_key_above_the_big_key_size_is_found_and_small_ones_are_not(
    analyze: Analyze, redis_url: str, shared: redis.Redis, prefix: str
) -> None:
    shared.set(f"{prefix}blob:big", b"x" * (BIG_KEY_BYTES + 1000))
    shared.set(f"{prefix}blob:small", b"x" * 1000)
    shared.set(f"{prefix}tiny:1", b"x")
    findings = analyze(redis_url, families=[f"{prefix}blob:*", f"{prefix}tiny:*"])
    [big] = codes(findings, "redis.big_key")
    assert big.subject == f"{prefix}blob:*" and big.evidence["over_limit"] == 1
    [largest] = big.evidence["largest"]
    assert largest["key"] == f"{prefix}blob:big"
    assert largest["bytes"] == shared.memory_usage(f"{prefix}blob:big") >= BIG_KEY_BYTES


def test_a_cache_without_an_allkeys_policy_is_found(analyze: Analyze, own: redis.Redis, private_server: Path) -> None:
    url = f"unix://{private_server}"
    own.config_set("maxmemory-policy", "noeviction")
    own.config_set("maxmemory", "0")
    [wrong] = codes(analyze(url, role="cache"), "redis.eviction_policy")
    assert wrong.severity is Severity.WARNING
    assert wrong.evidence == {"role": "cache", "maxmemory_policy": "noeviction", "maxmemory": 0}
    own.config_set("maxmemory-policy", "allkeys-lru")
    [unbounded] = codes(analyze(url, role="cache"), "redis.eviction_policy")
    assert "no maxmemory" in unbounded.summary
    own.config_set("maxmemory", str(64 * 1024 * 1024))
    assert codes(analyze(url, role="cache"), "redis.eviction_policy") == []
    # the same settings are wrong for a session store, which must not lose keys
    [evicting] = codes(analyze(url, role="session"), "redis.eviction_policy")
    assert evicting.evidence["maxmemory_policy"] == "allkeys-lru"


def test_a_store_without_persistence_is_found(analyze: Analyze, own: redis.Redis, private_server: Path) -> None:
    url = f"unix://{private_server}"
    own.config_set("save", "")
    own.config_set("appendonly", "no")
    [lost] = codes(analyze(url, role="store"), "redis.persistence")
    assert lost.evidence == {"role": "store", "save": "", "appendonly": "no"}
    assert codes(analyze(url, role="cache"), "redis.persistence") == []  # a cache needs none
    own.config_set("save", "3600 1")
    assert codes(analyze(url, role="store"), "redis.persistence") == []


def test_a_low_hit_ratio_is_found_with_the_servers_counters(
    analyze: Analyze, own: redis.Redis, private_server: Path
) -> None:
    own.config_resetstat()
    own.set("hr:present", "1")
    pipe = own.pipeline(transaction=False)
    for i in range(1200):
        pipe.get(f"hr:missing:{i}")
    for _ in range(100):
        pipe.get("hr:present")
    pipe.execute()
    [low] = codes(analyze(f"unix://{private_server}"), "redis.hit_ratio")
    assert low.severity is Severity.WARNING
    assert (low.evidence["keyspace_hits"], low.evidence["keyspace_misses"]) == (100, 1200)
    assert low.evidence["hit_ratio"] == round(100 / 1300, 4)


def test_a_clean_server_raises_no_finding(analyze: Analyze, own: redis.Redis, private_server: Path) -> None:
    own.config_resetstat()
    own.config_set("maxmemory", str(64 * 1024 * 1024))
    own.config_set("maxmemory-policy", "allkeys-lfu")
    own.set("cache:teams:1", "x", ex=600)
    own.set("cache:schedules:1", "x" * 10_000, ex=600)
    for _ in range(5):
        own.get("cache:teams:1")
    findings = analyze(f"unix://{private_server}", role="cache", ttl_families=["cache:*"], families=["live:*"])
    assert findings == []


def test_redis_proposes_no_index(analyze: Analyze, redis_url: str) -> None:
    hub = dbplex.open({"sources": {"r": {"url": redis_url}}})
    try:
        pool, admin = hub.capability_pools("r")
        analyzer = RedisAnalyzer(hub.sources["r"], pool, admin)
        with pytest.raises(UnsupportedError, match="Redis has no indexes to create"):
            analyzer.index_migration(ProposedIndex(table="t", columns=("a",), name="ix_t_a"))
    finally:
        hub.close()


def test_a_cluster_is_analysed_master_by_master(analyze: Analyze, seed_url: str) -> None:
    seeds = cluster_url.parse(seed_url).seeds
    raw = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in seeds])
    family = f"dbplex_analyze_{uuid.uuid4().hex[:10]}:"
    keys = [f"{family}{i}" for i in range(40)]  # spread over the masters' slots
    try:
        for i, key in enumerate(keys):
            raw.set(key, "1", ex=600 if i % 4 else None)
        findings = analyze(seed_url, ttl_families=[f"{family}*"], role="store")
        [missing] = codes(findings, "redis.ttl_missing")
        assert (missing.evidence["scanned"], missing.evidence["without_ttl"]) == (40, 10)
        examples = missing.evidence["examples"]
        assert len(examples) == 5 and set(examples) <= set(keys[0:40:4])
        masters = {f"{node.host}:{node.port}" for node in raw.get_primaries()}
        persistence = codes(findings, "redis.persistence")
        assert {f.evidence["node"] for f in persistence} == masters  # the sandbox's nodes persist nothing
    finally:
        raw.delete(*keys)
        raw.close()


def test_a_refused_config_get_is_one_info_finding(analyze: Analyze, own: redis.Redis, private_server: Path) -> None:
    own.acl_setuser("analyst", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all", "-config"])
    try:
        findings = analyze(f"unix://analyst:secret@{private_server}", role="queue")
    finally:
        own.acl_deluser("analyst")
    [refused] = codes(findings, "redis.not_available")
    assert refused.severity is Severity.INFO and "CONFIG GET was refused" in refused.summary
    assert codes(findings, "redis.persistence") == []
