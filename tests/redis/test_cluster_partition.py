"""The Redis partitioner on a real Redis Cluster (``redis+cluster://``, three masters).

The cluster is the one of :mod:`tests.redis.test_cluster` (``DBPLEX_TEST_REDIS_CLUSTER_URL``,
else a sandbox). Buckets of a time family have no hash tag, so they spread over the nodes: every
command names one key, and the partitioner sends it on a connection of the hub's pool of that
key's master. Hash buckets keep their tag's slot, shared by every family with the same ``colocate``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from redis.cluster import RedisCluster

import dbplex
from dbplex.errors import QueryError
from dbplex.migrate.locking import this_process
from dbplex.partition import Condition, PartitionQuery
from dbplex.partition.maintain import make_plan, run
from dbplex.partition.scatter import query as scatter
from dbplex_redis import partition_keys as keys
from dbplex_redis.partition import RedisPartitioner
from tests.partition.conftest import spec_factory
from tests.redis.test_cluster import raw, resharded, seed_url, source_url
from tests.redis.test_conformance import with_client_name

__all__ = ["raw", "seed_url", "source_url"]  # the cluster fixtures, used here by name

DAY = timedelta(days=1)


@pytest.fixture
def hub(source_url: str, prefix: str) -> Iterator[dbplex.Hub]:
    with dbplex.open({"sources": {"c": {"url": source_url, "options": {"prefix": prefix}}}}) as found:
        yield found


@pytest.fixture
def partitioner(hub: dbplex.Hub) -> RedisPartitioner:
    found = hub.partitioner("c")
    assert isinstance(found, RedisPartitioner) and found.cluster
    return found


spec = spec_factory(source="c", target="live:updates", premake=4, retention="3 days")


def day(moment: datetime, offset: int = 0) -> str:
    return f"{(moment + offset * DAY):%Y-%m-%d}"


def test_time_buckets_spread_over_the_nodes_and_are_maintained_written_and_queried(
    hub: dbplex.Hub, partitioner: RedisPartitioner, raw: RedisCluster, prefix: str
) -> None:
    at = datetime.now(timezone.utc)
    report = run(partitioner, spec(), now=at)
    assert report.status == "done", report.error
    wanted = [day(at, o) for o in range(-3, 5)]
    assert [m.decode() for m in raw.zrange(f"{prefix}live:updates:partitions", 0, -1)] == wanted
    assert run(partitioner, spec(), now=at).message == "nothing to do"
    rows = [{"at": at + o * DAY, "n": o} for o in range(-3, 5)]
    assert partitioner.insert(spec(), rows) == len(rows)
    buckets = [f"{prefix}live:updates:{label}" for label in wanted]
    nodes = {raw.get_node_from_key(b).name for b in buckets}
    assert len(nodes) > 1  # the test covers commands sent to several nodes
    assert all(raw.zcard(b) == 1 for b in buckets)
    assert all(raw.pexpiretime(b) > 0 for b in buckets)  # each write set the bucket's TTL
    page = hub.partitioned(spec()).query(("at", ">=", at - DAY), order_by=["-at"], limit=3)
    assert [r["n"] for r in page.rows] == [4, 3, 2] and len(page.scanned) == 6
    # a lost registry: inspect finds the buckets on every node by SCAN and maintain registers them again
    raw.delete(f"{prefix}live:updates:partitions")
    assert partitioner.listing(spec()).partitions == []
    assert [e.partition.label for e in partitioner.inspect(spec(), now=at).partitions] == wanted
    assert run(partitioner, spec(), now=at).status == "done"
    assert [e.partition.label for e in partitioner.listing(spec()).partitions] == wanted
    # retention at a later moment deletes the buckets past the window, wherever they live
    retired = [a.partition for a in run(partitioner, spec(), now=at + 2 * DAY).actions if a.kind == "retire"]
    assert retired == [f"live_updates_p{day(at, o).replace('-', '_')}" for o in (-3, -2)]
    assert not raw.exists(buckets[0]) and not raw.exists(buckets[1])


def test_hash_buckets_of_families_sharing_colocate_share_a_slot(
    partitioner: RedisPartitioner, raw: RedisCluster, prefix: str
) -> None:
    games = spec(target="games", strategy="hash", interval=None, retention=None, key="id", modulus=4, colocate="team")
    stats = spec(target="stats", strategy="hash", interval=None, retention=None, key="id", modulus=4, colocate="team")
    for family in (games, stats):
        assert run(partitioner, family).status == "done"
    for r in range(4):
        assert raw.cluster_keyslot(f"{prefix}games:{{team:h{r}}}") == raw.cluster_keyslot(
            f"{prefix}stats:{{team:h{r}}}"
        )
    assert partitioner.insert(games, [{"id": i, "team": i % 5} for i in range(20)]) == 20
    assert partitioner.insert(stats, [{"id": 100 + i, "team": i % 5, "goals": i} for i in range(5)]) == 5
    team = PartitionQuery(where=[Condition("team", "==", 3)])
    found = scatter(partitioner, games, partitioner.listing(games), team)
    assert sorted(r["id"] for r in found.rows) == [3, 8, 13, 18]
    # a team's games and stats sit in buckets of one slot: one MULTI reads both
    r = keys.remainder(games, 3)
    assert next(e.rows for e in partitioner.inspect(games).partitions if e.partition.remainder == r) >= 4
    node = raw.get_redis_connection(raw.get_node_from_key(f"{prefix}games:{{team:h{r}}}"))
    with node.pipeline(transaction=True) as pipe:  # (RedisCluster pipelines run MULTI only since redis-py 6)
        pipe.zcard(f"{prefix}games:{{team:h{r}}}")
        pipe.zcard(f"{prefix}stats:{{team:h{r}}}")
        assert all(isinstance(n, int) for n in pipe.execute())


def test_the_maintenance_lock_and_plans_work_on_a_cluster(partitioner: RedisPartitioner, prefix: str) -> None:
    first = partitioner.lock(spec(), this_process())
    second = partitioner.lock(spec(), this_process())
    assert first.try_acquire() and not second.try_acquire()
    assert "pid" in (second.holder() or "") and first.extend()
    first.release()
    assert second.try_acquire()
    second.release()
    plan = make_plan(partitioner, spec(), datetime.now(timezone.utc))
    assert plan.actions[0].commands[0].startswith(f"ZADD {prefix}live:updates:partitions NX ")


def test_after_maintain_the_servers_count_what_pool_stats_reports(
    source_url: str, raw: RedisCluster, prefix: str
) -> None:
    """Every connection the partitioner used (writes, reads, the maintenance lock) is one of the
    hub's pools': the nodes' own count of the test's connections is what ``pool_stats()`` says."""
    name = f"part_{uuid.uuid4().hex[:10]}"
    source = {"url": with_client_name(source_url, name), "options": {"prefix": prefix}}
    with dbplex.open({"sources": {"c": source}}) as hub:
        at = datetime.now(timezone.utc)
        report = hub.partitioned(spec()).maintain()
        assert report.status == "done", report
        assert hub.partitioner("c").insert(spec(), [{"at": at + o * DAY, "n": o} for o in range(3)]) == 3
        counted = sum(
            1
            for node in raw.get_nodes()
            for client in raw.get_redis_connection(node).client_list()
            if client.get("name") == name
        )
        pooled = {key: stats.size for key, stats in hub.pool_stats().items()}
    assert set(pooled) == {"c", "c/admin"} and pooled["c/admin"] > 0  # the lock's connection stays pooled
    assert counted == sum(pooled.values())


def test_a_moved_slot_fails_a_step_clearly_and_the_next_one_follows_it(
    hub: dbplex.Hub, partitioner: RedisPartitioner, raw: RedisCluster, prefix: str
) -> None:
    """Maintenance follows no redirection: the step fails with the reason, the slot map is read
    again, and running it again works on the new owner."""
    assert run(partitioner, spec()).status == "done"
    registry = f"{prefix}live:updates:partitions"
    with resharded(hub, raw, registry) as (_, target):
        with pytest.raises(QueryError, match=r"hash slot moved \(MOVED .*run it again"):
            partitioner.listing(spec())
        assert len(partitioner.listing(spec()).partitions) == 8  # read on the new owner
        with hub.connection("c") as cluster:
            assert cluster.node_for(registry) == target.name


def test_a_moved_lock_key_fails_the_lock_clearly_and_the_next_one_follows_it(
    hub: dbplex.Hub, partitioner: RedisPartitioner, raw: RedisCluster, prefix: str
) -> None:
    lock_key = f"{prefix}dbplex_partition_lock:live:updates"
    stale = partitioner.lock(spec(), this_process())
    assert stale.try_acquire()
    stale.release()  # its map is the admin pool's, read before the slot moves
    with resharded(hub, raw, lock_key):
        with pytest.raises(QueryError, match=r"lock key .*hash slot moved \(MOVED .*run it again"):
            stale.try_acquire()
        fresh = partitioner.lock(spec(), this_process())
        assert fresh.try_acquire() and fresh.extend()
        fresh.release()
        assert raw.exists(lock_key) == 0
