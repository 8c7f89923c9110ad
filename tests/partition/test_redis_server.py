"""The Redis partitioner on a real server: registry, buckets, TTLs, retention, routing, queries.

Every test uses a key prefix of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

import dbplex
from dbplex.migrate.locking import this_process
from dbplex.partition import Condition, Order, PartitionQuery, PartitionSpec
from dbplex.partition.errors import KeyOutOfRange
from dbplex.partition.expiry import expires_at
from dbplex.partition.layout import layout
from dbplex.partition.maintain import make_plan, run
from dbplex.partition.rowfilter import matches
from dbplex.partition.scatter import query as scatter
from dbplex.testing.plugin import Servers
from dbplex_redis.partition import RedisPartitioner
from tests.partition.conftest import spec_factory
from tests.partition.workers import run_concurrently

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def redis_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("redis")


@pytest.fixture
def prefix() -> str:
    return f"part_{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def raw(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A plain client; the test's keys (and its maintenance locks) are deleted afterwards."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    doomed = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if doomed:
        client.delete(*doomed)
    client.close()


@pytest.fixture
def partitioner(redis_url: str, prefix: str, raw: redis.Redis) -> Iterator[RedisPartitioner]:
    with dbplex.open({"sources": {"cache": {"url": redis_url, "options": {"prefix": prefix}}}}) as hub:
        found = hub.partitioner("cache")
        assert isinstance(found, RedisPartitioner)
        yield found


def now() -> datetime:
    return datetime.now(timezone.utc)


spec = spec_factory(source="cache", target="live:updates", premake=2)


def labels(raw: redis.Redis, prefix: str, target: str = "live:updates") -> list[str]:
    return list(raw.zrange(f"{prefix}{target}:partitions", 0, -1))


def day(moment: datetime, offset: int = 0) -> str:
    return f"{(moment + offset * DAY):%Y-%m-%d}"


def test_maintain_registers_each_bucket_once_and_keeps_the_premake_horizon(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    at = now()
    first = run(partitioner, spec(), now=at)
    assert first.status == "done", first.error
    assert labels(raw, prefix) == [day(at), day(at, 1), day(at, 2)]
    assert run(partitioner, spec(), now=at).message == "nothing to do"
    later = run(partitioner, spec(), now=at + DAY)
    assert [a.kind for a in later.actions] == ["create"]
    assert later.actions[0].commands[0].startswith(f"ZADD {prefix}live:updates:partitions NX ")
    assert labels(raw, prefix) == [day(at, o) for o in range(4)]
    assert [e.partition.label for e in partitioner.inspect(spec()).partitions] == [day(at, o) for o in range(4)]


def test_concurrent_maintenance_from_several_processes_registers_each_bucket_once(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    wanted = spec(premake=6, retention="2 days")
    reports = run_concurrently({"url": redis_url, "options": {"prefix": prefix}}, wanted, now())
    assert all(r["status"] in ("done", "nothing") for r in reports), reports
    created = sorted(name for r in reports for name in r["created"])
    assert created == sorted(p.name for p in layout(wanted, now()).wanted)
    assert len(labels(raw, prefix)) == len(created)
    assert not raw.exists(f"{prefix}dbplex_partition_lock:live:updates")  # released


def test_every_write_gives_a_bucket_the_ttl_of_its_window_end(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    kept = spec(retention="3 days")
    at = now()
    run(partitioner, kept, now=at)
    assert partitioner.insert(kept, [{"at": at, "n": 1}, {"at": at - 2 * DAY, "n": 2}]) == 2
    for partition in partitioner.inspect(kept).partitions:
        key = f"{prefix}live:updates:{partition.partition.label}"
        if partition.rows:
            expiry = expires_at(kept, partition.partition)
            assert expiry is not None and raw.pexpiretime(key) == int(expiry.timestamp() * 1000)
            # a bucket holding in-window rows outlives the window for every row it holds
            assert expiry >= partition.partition.upper + timedelta(days=3) > at  # type: ignore[operator]
        else:
            assert raw.pexpiretime(key) == -2  # an empty bucket does not exist; its registry entry does


def test_maintain_restores_a_lost_ttl(partitioner: RedisPartitioner, raw: redis.Redis, prefix: str) -> None:
    kept = spec(retention="3 days")
    at = now()
    run(partitioner, kept, now=at)
    partitioner.insert(kept, [{"at": at, "n": 1}])
    key = f"{prefix}live:updates:{day(at)}"
    raw.persist(key)
    plan = make_plan(partitioner, kept, at)
    assert [(a.kind, a.commands) for a in plan.actions] == [("setup", [f"PEXPIREAT {key} {_expiry_ms(kept, at)}"])]
    assert run(partitioner, kept, now=at).status == "done"
    assert raw.pexpiretime(key) == _expiry_ms(kept, at)


def _expiry_ms(kept: PartitionSpec, at: datetime) -> int:
    from dbplex.partition.layout import partition_for

    partition = partition_for(kept, at)
    assert partition is not None
    expiry = expires_at(kept, partition)
    assert expiry is not None
    return int(expiry.timestamp() * 1000)


def test_retention_retires_exactly_the_buckets_past_the_window(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    kept = spec(retention="3 days")
    at = now()
    run(partitioner, kept, now=at)
    assert labels(raw, prefix)[0] == day(at, -3)
    partitioner.insert(kept, [{"at": at - 3 * DAY + timedelta(seconds=1), "n": 0}])  # in the window, barely
    later = at + DAY
    cutoff = later - 3 * DAY
    partitioner.insert(kept, [{"at": cutoff + timedelta(seconds=30), "n": 1}])  # in the window of the next run
    report = run(partitioner, kept, now=later)
    retired = [a.partition for a in report.actions if a.kind == "retire"]
    assert retired == [f"live_updates_p{day(at, -3).replace('-', '_')}"]
    assert labels(raw, prefix)[0] == day(at, -2) and not raw.exists(f"{prefix}live:updates:{day(at, -3)}")
    rows = raw.zcard(f"{prefix}live:updates:{day(cutoff)}")
    assert rows == 1  # the bucket holding the cutoff keeps its in-window row


def test_insert_routes_rows_and_refuses_rows_without_a_bucket(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    kept = spec(retention="3 days")
    at = now()
    run(partitioner, kept, now=at)
    rows = [{"at": at, "n": 1}, {"at": at + DAY, "n": 2}, {"at": at, "n": 1}]
    assert partitioner.insert(kept, rows) == 2  # the identical third row is stored once
    assert raw.zcard(f"{prefix}live:updates:{day(at)}") == 1 and raw.zcard(f"{prefix}live:updates:{day(at, 1)}") == 1
    with pytest.raises(KeyOutOfRange, match=rf"bucket {day(at, 9)} does not exist: run `dbplex partition maintain`"):
        partitioner.insert(kept, [{"at": at, "n": 3}, {"at": at + 9 * DAY, "n": 4}])
    with pytest.raises(KeyOutOfRange, match="no partition takes at = 'yesterday'"):
        partitioner.insert(kept, [{"at": "yesterday"}])
    raw.zadd(f"{prefix}live:updates:partitions", {day(at, -5): 0})  # listed, but long past the window
    with pytest.raises(KeyOutOfRange, match=r"is past the retention window \(3 days\)"):
        partitioner.insert(kept, [{"at": at - 5 * DAY}])
    assert raw.zcard(f"{prefix}live:updates:{day(at)}") == 1  # nothing of a refused batch was written


def test_hash_buckets_route_by_crc32_and_prune_by_key(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    hashed = spec(target="sessions", strategy="hash", interval=None, key="uid", modulus=4)
    assert run(partitioner, hashed).status == "done"
    assert labels(raw, prefix, "sessions") == ["h0", "h1", "h2", "h3"]
    assert partitioner.insert(hashed, [{"uid": i, "v": i * i} for i in range(40)]) == 40
    for r in range(4):
        members = raw.zcard(f"{prefix}sessions:{{sessions:h{r}}}")
        assert members == sum(1 for i in range(40) if zlib.crc32(str(i).encode()) % 4 == r)
    found = scatter(partitioner, hashed, partitioner.inspect(hashed), PartitionQuery(where=[Condition("uid", "==", 7)]))
    assert found.rows == [{"uid": 7, "v": 49}] and len(found.scanned) == 1


ROWS = [
    {
        "id": i,
        "at": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "grp": i % 4,
        "name": f"n{i % 7}",
        "opt": None if i % 3 else i,
    }
    for i in range(40)
]
QUERIES = [
    PartitionQuery(order_by=[Order("id")]),
    PartitionQuery(order_by=[Order("at")], limit=7),
    PartitionQuery(order_by=[Order("at", "desc"), Order("id")], limit=5, offset=3),
    PartitionQuery(where=[Condition("at", ">=", "DAY-1"), Condition("grp", "in", [1, 2])], order_by=[Order("id")]),
    PartitionQuery(
        where=[Condition("at", "<", "DAY+0"), Condition("name", "!=", "n3")],
        order_by=[Order("grp"), Order("id", "desc")],
        limit=9,
    ),
    PartitionQuery(where=[Condition("opt", "==", None)], order_by=[Order("name"), Order("id")], fields=["id", "name"]),
    PartitionQuery(where=[Condition("opt", ">", 10)], order_by=[Order("opt", "desc")]),
    PartitionQuery(where=[Condition("at", ">", "DAY+5")]),
]


def test_a_query_over_all_buckets_equals_it_on_an_unpartitioned_copy(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    at = now().replace(microsecond=0)
    rows = [{**r, "at": at - 2 * DAY + r["id"] * timedelta(hours=2)} for r in ROWS]
    daily = spec(retention="3 days")
    copy = spec(target="copy", strategy="hash", interval=None, modulus=1)  # one bucket: unpartitioned
    for target in (daily, copy):
        assert run(partitioner, target, now=at).status == "done"
        assert partitioner.insert(target, rows) == len(rows)
    for request in QUERIES:
        request = _resolve(request, at)
        got = scatter(partitioner, daily, partitioner.inspect(daily), request).rows
        assert got == scatter(partitioner, copy, partitioner.inspect(copy), request).rows, request
        assert got == _by_hand(rows, request), request


def _resolve(request: PartitionQuery, at: datetime) -> PartitionQuery:
    import msgspec

    def value(v: Any) -> Any:
        return at + int(v[3:]) * DAY if isinstance(v, str) and v.startswith("DAY") else v

    return msgspec.structs.replace(request, where=[Condition(c.field, c.op, value(c.value)) for c in request.where])


def _by_hand(rows: list[dict[str, Any]], request: PartitionQuery) -> list[dict[str, Any]]:
    """The query's meaning, on the plain list: None sorts last ascending (the core's order)."""
    found = [r for r in rows if matches(r, request.where)]
    for order in reversed(request.order_by):  # stable sorts, least significant field first
        found.sort(key=lambda r, f=order.field: (r[f] is None, r[f]), reverse=order.direction == "desc")
    end = None if request.limit is None else request.offset + request.limit
    found = found[request.offset : end]
    if request.fields is not None:
        found = [{f: r[f] for f in request.fields} for r in found]
    return found


def test_fetch_reads_the_key_range_and_filters_orders_and_limits(partitioner: RedisPartitioner) -> None:
    at = now().replace(hour=0, minute=0, second=0, microsecond=0)
    run(partitioner, spec(), now=at)
    partitioner.insert(spec(), [{"at": at + timedelta(minutes=i), "n": i} for i in range(10)])
    today = next(e.partition for e in partitioner.inspect(spec()).partitions if e.partition.label == day(at))
    request = PartitionQuery(
        where=[Condition("at", ">", at + timedelta(minutes=2)), Condition("n", "<", 8)],
        order_by=[Order("n", "desc")],
        limit=3,
        fields=["n"],
    )
    assert partitioner.fetch(spec(), today, request) == [{"n": 7}, {"n": 6}, {"n": 5}]
    rows = partitioner.fetch(spec(), today, PartitionQuery(where=[Condition("at", "==", at)]))
    assert rows == [{"at": at, "n": 0}]


def test_a_bucket_with_data_the_registry_lacks_is_found_by_scan(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    at = now()
    run(partitioner, spec(), now=at)
    partitioner.insert(spec(), [{"at": at, "n": 1}])
    raw.delete(f"{prefix}live:updates:partitions")
    raw.set(f"{prefix}live:updates:1234", "a per-game key of another layout")  # not a partition
    found = [(e.partition.label, e.rows) for e in partitioner.inspect(spec()).partitions]
    assert found == [(day(at), 1)]


def test_the_maintenance_lock_reuses_the_migration_lock(partitioner: RedisPartitioner, prefix: str) -> None:
    first = partitioner.lock(spec(), this_process())
    second = partitioner.lock(spec(), this_process())
    assert first.try_acquire() and not second.try_acquire()
    assert first.key == f"{prefix}dbplex_partition_lock:live:updates" and "pid" in (second.holder() or "")
    first.release()
    assert second.try_acquire()
    second.release()


def test_list_and_numeric_buckets_route_by_key_and_a_default_bucket_takes_the_rest(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    regions = spec(target="orders", strategy="list", interval=None, key="region", lists={"eu": ["de"]}, default=True)
    assert run(partitioner, regions).status == "done"
    assert labels(raw, prefix, "orders") == ["default", "eu"]
    assert partitioner.insert(regions, [{"region": "de", "n": 1}, {"region": "jp", "n": 2}]) == 2
    assert raw.zcard(f"{prefix}orders:eu") == 1 and raw.zcard(f"{prefix}orders:default") == 1
    numbers = spec(target="seq", interval=None, key="n", step=100, premake=1)
    assert run(partitioner, numbers).status == "done"
    assert labels(raw, prefix, "seq") == ["0", "100"]
    partitioner.insert(numbers, [{"n": 5}, {"n": 150}])
    with pytest.raises(KeyOutOfRange, match="bucket 200 does not exist"):
        partitioner.insert(numbers, [{"n": 250}])
    assert partitioner.inspect(numbers).partitions[1].rows == 1
    assert partitioner.inspect(numbers).highest == 150  # premake counts from the largest key
    assert [a.partition for a in run(partitioner, numbers).actions] == ["seq_p200"]


def test_insert_counts_new_rows_when_the_default_bucket_and_expiring_buckets_share_a_batch(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    # the default bucket has no TTL (one reply in the pipeline), the time buckets do (ZADD and
    # PEXPIREAT): only the ZADD replies count, wherever the default bucket falls in the batch
    kept = spec(retention="3 days", default=True)
    at = now()
    assert run(partitioner, kept, now=at).status == "done"
    unlisted = at + 9 * DAY  # no bucket of its own: the default bucket takes it
    rows = [
        *({"at": unlisted, "n": i} for i in range(3)),
        {"at": at, "n": 10},
        {"at": at, "n": 11},
        {"at": at + DAY, "n": 12},
    ]
    assert partitioner.insert(kept, rows) == 6
    assert partitioner.insert(kept, rows) == 0  # all there already
    assert partitioner.insert(kept, [*rows, {"at": at + DAY, "n": 13}, {"at": unlisted, "n": 3}]) == 2
    assert raw.zcard(f"{prefix}live:updates:default") == 4 and raw.pexpiretime(f"{prefix}live:updates:default") == -1
    assert raw.zcard(f"{prefix}live:updates:{day(at)}") == 2 and raw.zcard(f"{prefix}live:updates:{day(at, 1)}") == 2


def test_insert_judges_the_retention_window_at_the_moment_given(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    kept = spec(retention="3 days")
    at = now()
    past = at - 20 * DAY
    assert run(partitioner, kept, now=past).status == "done"  # the buckets of that moment's window
    assert labels(raw, prefix)[0] == day(past, -3)
    row = {"at": past, "n": 1}
    with pytest.raises(KeyOutOfRange, match=r"past the retention window \(3 days\) at " + str(at.year)):
        partitioner.insert(kept, [row])  # by the clock, 20 days ago is past a 3-day window
    assert partitioner.insert(kept, [row], now=past) == 1  # at `past` it is the current day
    # a moment in the future: today's bucket has left the window by then, and nothing is written
    assert run(partitioner, kept, now=at).status == "done"
    with pytest.raises(KeyOutOfRange, match="past the retention window"):
        partitioner.insert(kept, [{"at": at, "n": 2}], now=at + 5 * DAY)
    assert raw.zcard(f"{prefix}live:updates:{day(at)}") == 0
    assert partitioner.insert(kept, [{"at": at, "n": 2}], now=at) == 1


def test_a_run_for_another_moment_maintains_the_buckets_of_that_moment(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    kept = spec(retention="2 days")
    at = now()
    future = at + 30 * DAY
    report = run(partitioner, kept, now=future)
    assert report.status == "done" and report.now == future.isoformat()
    assert labels(raw, prefix) == [day(future, o) for o in range(-2, 3)]
    assert partitioner.insert(kept, [{"at": future, "n": 1}], now=future) == 1
    # a run for a moment past that window retires exactly those buckets
    later = future + 10 * DAY
    retired = [a.partition for a in run(partitioner, kept, now=later).actions if a.kind == "retire"]
    assert retired == [f"live_updates_p{day(future, o).replace('-', '_')}" for o in range(-2, 3)]
    assert labels(raw, prefix) == [day(later, o) for o in range(-2, 3)]
    assert not raw.exists(f"{prefix}live:updates:{day(future)}")


def test_hash_buckets_take_values_a_query_calls_equal_and_pruning_keeps_their_bucket(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    hashed = spec(target="sessions", strategy="hash", interval=None, key="uid", modulus=16)
    assert run(partitioner, hashed).status == "done"
    assert zlib.crc32(b"1") % 16 != zlib.crc32(b"1.0") % 16  # str() would have split them
    stored = [{"uid": 1, "v": "int"}, {"uid": 2.0, "v": "float"}, {"uid": 3, "v": "three"}]
    assert partitioner.insert(hashed, stored) == 3
    inventory = partitioner.listing(hashed)
    for value, wanted in ((1.0, ["int"]), (True, ["int"]), (2, ["float"]), (3.0, ["three"])):
        found = scatter(partitioner, hashed, inventory, PartitionQuery(where=[Condition("uid", "==", value)]))
        assert [r["v"] for r in found.rows] == wanted, value
        assert len(found.scanned) == 1 and len(found.pruned) == 15
    found = scatter(partitioner, hashed, inventory, PartitionQuery(where=[Condition("uid", "in", [1.0, 2])]))
    assert sorted(r["v"] for r in found.rows) == ["float", "int"]


def _score(at: datetime) -> int:
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp()) * 1_000_000


def test_queries_list_partitions_from_the_registry_and_maintain_registers_buckets_it_lost(
    partitioner: RedisPartitioner, raw: redis.Redis, prefix: str
) -> None:
    at = now()
    run(partitioner, spec(), now=at)
    partitioner.insert(spec(), [{"at": at, "n": 1}])
    listed = partitioner.listing(spec())
    assert [e.partition.label for e in listed.partitions] == [day(at, o) for o in range(3)]
    assert all(e.rows is None for e in listed.partitions)  # no per-bucket reads
    raw.delete(f"{prefix}live:updates:partitions")
    assert partitioner.listing(spec()).partitions == []  # the registry alone: no SCAN
    plan = make_plan(partitioner, spec(), at)
    assert (plan.actions[0].kind, plan.actions[0].reason) == ("setup", "1 bucket(s) missing from the registry")
    assert plan.actions[0].commands == [f"ZADD {prefix}live:updates:partitions NX {_score(at)} {day(at)}"]
    assert run(partitioner, spec(), now=at).status == "done"
    assert [e.partition.label for e in partitioner.listing(spec()).partitions] == [day(at, o) for o in range(3)]
    assert run(partitioner, spec(), now=at).message == "nothing to do"


def test_partitioned_insert_passes_its_moment_to_the_partitioner(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    kept = spec(retention="3 days")
    past = now() - 20 * DAY
    with dbplex.open({"sources": {"cache": {"url": redis_url, "options": {"prefix": prefix}}}}) as hub:
        handle = hub.partitioned(kept)
        assert handle.apply(now=past).status == "done"
        with pytest.raises(KeyOutOfRange, match="past the retention window"):
            handle.insert([{"at": past, "n": 1}])
        assert handle.insert([{"at": past, "n": 1}], now=past) == 1
