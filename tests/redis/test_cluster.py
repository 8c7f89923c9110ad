"""The ``redis_cluster`` backend on a real Redis Cluster (three masters from the sandbox).

The cluster comes from ``DBPLEX_TEST_REDIS_CLUSTER_URL``, else from a sandbox of this module's
own. Tests use their own table names and prefixes; the cleanup fixture of ``conftest.py``
deletes their keys through :func:`raw`, which is a cluster client here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest
import redis.exceptions
from redis.cluster import ClusterNode, RedisCluster

import dbplex
from dbplex import Get, Put, Scan, Status, sandbox
from dbplex.errors import ConfigError, OpError, QueryError, SourceUnavailable, UnsupportedError
from dbplex.testing.conformance import ConformanceSuite, RecordsSection
from dbplex_redis import Command, Pipeline, Publish, cluster_url
from tests.redis.conftest import wait_until
from tests.redis.test_cluster_translate import NASTY_PASSWORDS
from tests.redis.test_conformance import expiring_keys, kill_clients, one_round_trip, with_client_name


@pytest.fixture(scope="session")
def seed_url() -> Iterator[str]:
    given = os.environ.get("DBPLEX_TEST_REDIS_CLUSTER_URL")
    if given:
        yield given
        return
    parent = Path(tempfile.mkdtemp(prefix="dbplex-test-cluster-"))  # the system temp dir, as dbplex_servers
    try:
        yield sandbox.up(parent / "sb", servers=(), redis_cluster=3).urls["redis_cluster"]
    finally:
        sandbox.down(parent / "sb")
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def raw(seed_url: str) -> Iterator[RedisCluster]:
    """A plain redis-py cluster client, for checking what dbplex did (and the cleanup in conftest.py)."""
    seeds = cluster_url.parse(seed_url).seeds
    client = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in seeds], socket_timeout=10)
    yield client
    client.close()


@pytest.fixture
def source_url(seed_url: str) -> str:
    return seed_url


@pytest.fixture
def cluster(source_url: str, prefix: str) -> Iterator[dbplex.Hub]:
    """A hub with one cluster source ``c`` whose record keys start with this test's ``prefix``."""
    source = {"url": source_url, "pool": {"min_size": 1, "max_size": 4}, "options": {"prefix": prefix}}
    with dbplex.open({"sources": {"c": source}}) as hub:
        yield hub


class ClusterSuite(RecordsSection):
    backend = "redis_cluster"

    @pytest.fixture
    def source_url(self, seed_url: str) -> str:
        return seed_url

    def servers(self, hub: dbplex.Hub) -> int:
        with hub.connection("s") as client:
            return len(client.masters())


class TestConformance(ClusterSuite, ConformanceSuite):
    def tagged_url(self, url: str, tag: str) -> str:
        return with_client_name(url, tag)

    def kill_connections(self, url: str, tag: str) -> int:
        """CLIENT KILL on every node of the connections named ``tag``."""
        seeds = cluster_url.parse(url).seeds
        client = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in seeds], socket_timeout=10)
        try:
            return sum(kill_clients(f"redis://{node.host}:{node.port}", tag) for node in client.get_nodes())
        finally:
            client.close()

    @contextmanager
    def hold(self, hub: dbplex.Hub, table: str, count: int) -> Iterator[None]:
        """Hold connections of the master that serves ``table`` (a table is one hash slot)."""
        with hub.connection("s") as client, ExitStack() as stack:
            for _ in range(count):
                stack.enter_context(client.client(table))
            yield

    def check_ttl(self, hub: dbplex.Hub, table: str) -> None:
        expiring_keys(hub, table)

    def check_pipelines(self, hub: dbplex.Hub, table: str) -> None:
        one_round_trip(hub, table)


class TestConformanceWithPrefixAndTtl(ClusterSuite):
    source_fields: ClassVar[dict[str, Any]] = {"options": {"prefix": "dbplex_conformance:", "ttl": 60}}


# -- key layout ------------------------------------------------------------------------------------


def test_a_table_keeps_its_records_index_and_expiry_in_one_slot(
    source_url: str, raw: RedisCluster, prefix: str, unique_table: str
) -> None:
    with dbplex.open({"sources": {"c": {"url": source_url, "options": {"prefix": prefix, "ttl": 60}}}}) as hub:
        for key in ("a", "b", "c{x}", "日本"):
            hub.execute("c", Put(unique_table, key, {"v": key}))
    family = f"{prefix}{{{unique_table}}}:"
    names = sorted(k.decode() for k in raw.scan_iter(match=f"{prefix}*", count=1000))
    expected = [f"{family}{part}" for part in ("keys", "r:a", "r:b", "r:c{x}", "ttl", "r:日本")]
    assert names == sorted(expected)
    assert {raw.keyslot(name) for name in names} == {raw.keyslot(unique_table)}


def test_tables_spread_over_the_nodes(cluster: dbplex.Hub, raw: RedisCluster, unique_table: str) -> None:
    tables = [f"{unique_table}_{i}" for i in range(24)]
    for table in tables:
        cluster.execute("c", Put(table, "k", {"table": table}))
    nodes = {raw.get_node_from_key(f"{{{table}}}").name for table in tables}
    assert len(nodes) == len(raw.get_primaries())  # 24 tables miss one of 3 nodes with odds of 1e-4
    for table in tables:
        assert cluster.execute("c", Get(table, "k")).one()["values"] == {"table": table}
        assert [r["key"] for r in cluster.execute("c", Scan(table, "", 5))] == ["k"]


def test_a_prefix_with_a_brace_is_refused(source_url: str) -> None:
    with pytest.raises(ConfigError, match=r"prefix 'app\{x\}:'.*may not contain"):
        dbplex.open({"sources": {"c": {"url": source_url, "options": {"prefix": "app{x}:"}}}})


# -- raw commands and pipelines ----------------------------------------------------------------------


def test_commands_go_to_the_node_of_their_key_with_raw_replies(
    cluster: dbplex.Hub, raw: RedisCluster, prefix: str
) -> None:
    keys = [f"{prefix}{i}" for i in range(12)]  # spread over every node
    for i, key in enumerate(keys):
        assert cluster.execute("c", Command(["SET", key, i])).scalar() == "OK"
    assert [cluster.execute("c", Command(["GET", key])).scalar() for key in keys] == [str(i) for i in range(12)]
    cluster.execute("c", Command(["HSET", f"{prefix}h", "f", b"\xff"]))
    assert cluster.execute("c", Command(["HGETALL", f"{prefix}h"])).scalar() == {"f": b"\xff"}
    assert raw.get(keys[3]) == b"3"


@pytest.mark.parametrize(
    "make",
    [
        lambda p, q: ["MSET", p, 1, q, 2],
        lambda p, q: ["DEL", p, q],
        lambda p, q: ["EVAL", "return redis.call('SET', KEYS[1], 1)", 2, p, q],
        lambda p, q: ["ZUNIONSTORE", p, 1, q],  # movable keys: found by COMMAND GETKEYS
    ],
    ids=["MSET", "DEL", "EVAL", "ZUNIONSTORE"],
)
def test_a_command_whose_keys_span_slots_is_refused_before_it_is_sent(
    cluster: dbplex.Hub, raw: RedisCluster, prefix: str, make: Callable[[str, str], list[Any]]
) -> None:
    p, q = f"{{{prefix}p}}:a", f"{{{prefix}q}}:b"
    with pytest.raises(OpError, match=r"source 'c': Redis command \w+: its keys map to 2 hash slots") as caught:
        cluster.execute("c", Command(make(p, q)))
    message = str(caught.value)
    assert f"{p!r} in slot {raw.keyslot(p)}" in message and f"{q!r} in slot {raw.keyslot(q)}" in message
    assert "common hash tag" in message
    assert raw.exists(p) == 0  # nothing ran


def test_a_multi_key_command_within_one_hash_tag_runs(cluster: dbplex.Hub, prefix: str) -> None:
    a, b = f"{{{prefix}u1}}:a", f"{{{prefix}u1}}:b"
    cluster.execute("c", Command(["MSET", a, 1, b, 2]))
    assert cluster.execute("c", Command(["MGET", a, b])).scalar() == ["1", "2"]
    script = "return redis.call('INCRBY', KEYS[1], ARGV[1]) + redis.call('INCR', KEYS[2])"
    assert cluster.execute("c", Command(["EVAL", script, 2, a, b, 10])).scalar() == 14


def test_a_pipeline_without_transaction_spans_nodes_and_keeps_the_order(cluster: dbplex.Hub, prefix: str) -> None:
    keys = [f"{prefix}{i}" for i in range(12)]
    commands = [["SET", key, i] for i, key in enumerate(keys)] + [["GET", key] for key in keys] + [["PING"]]
    rows = cluster.execute("c", Pipeline(commands, transaction=False)).rows
    assert rows == [{"value": "OK"}] * 12 + [{"value": str(i)} for i in range(12)] + [{"value": "PONG"}]


def test_a_failing_command_in_a_cross_node_pipeline_is_named(cluster: dbplex.Hub, prefix: str) -> None:
    cluster.execute("c", Command(["SET", f"{prefix}s", "text"]))
    commands = [["SET", f"{prefix}{i}", i] for i in range(6)] + [["INCR", f"{prefix}s"]]
    with pytest.raises(QueryError, match=r"command 7 of 7 \(INCR\) failed: .*not an integer"):
        cluster.execute("c", Pipeline(commands, transaction=False))
    rows = cluster.execute("c", Pipeline(commands, transaction=False, raise_on_error=False)).rows
    assert rows[:6] == [{"value": "OK"}] * 6 and "not an integer" in rows[6]["error"]


def test_a_transaction_runs_on_the_node_of_its_slot(cluster: dbplex.Hub, raw: RedisCluster, prefix: str) -> None:
    a, b = f"{{{prefix}t}}:a", f"{{{prefix}t}}:b"
    rows = cluster.execute("c", Pipeline([["SET", a, 1], ["INCRBY", b, 5], ["PING"], ["MGET", a, b]])).rows
    assert rows == [{"value": "OK"}, {"value": 5}, {"value": "PONG"}, {"value": ["1", "5"]}]
    assert raw.get(b) == b"5"


def test_a_transaction_across_slots_is_refused_and_nothing_runs(
    cluster: dbplex.Hub, raw: RedisCluster, prefix: str
) -> None:
    a, b = f"{{{prefix}p}}:a", f"{{{prefix}q}}:b"
    with pytest.raises(OpError, match=r"redis.pipeline transaction: its keys map to 2 hash slots.*hash tag"):
        cluster.execute("c", Pipeline([["SET", a, 1], ["SET", b, 2]]))
    assert raw.exists(a, b) == 0


def test_publish_reaches_a_subscriber_on_any_node(cluster: dbplex.Hub, raw: RedisCluster, prefix: str) -> None:
    pubsub = raw.pubsub(node=raw.get_primaries()[-1])
    pubsub.subscribe(f"{prefix}ch")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    assert cluster.execute("c", Publish(f"{prefix}ch", "hello")).affected in (0, 1)  # counted on the node sent to
    message = pubsub.get_message(timeout=5)
    pubsub.close()
    assert message is not None and message["data"] == b"hello"


def test_transactions_and_subscriptions_are_not_offered(cluster: dbplex.Hub) -> None:
    assert cluster.backend("c").capabilities == frozenset({"ttl", "pipelines"})
    with pytest.raises(UnsupportedError, match="redis_cluster"):
        import dbplex_redis

        dbplex_redis.subscribe(cluster, "c", ["x"])


# -- following the cluster ---------------------------------------------------------------------------


def node_id(raw: RedisCluster, node: ClusterNode) -> Any:
    return raw.execute_command("CLUSTER MYID", target_nodes=node)


def move_slot(raw: RedisCluster, slot: int, source: ClusterNode, target: ClusterNode) -> None:
    """Reshard ``slot`` with its keys from master ``source`` to master ``target``, as an operator
    does (IMPORTING/MIGRATING, MIGRATE of its keys, then SETSLOT NODE on every master)."""
    source_id, target_id = node_id(raw, source), node_id(raw, target)
    raw.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id, target_nodes=target)
    raw.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id, target_nodes=source)
    while keys := raw.execute_command("CLUSTER GETKEYSINSLOT", slot, 100, target_nodes=source):
        raw.execute_command("MIGRATE", target.host, target.port, "", 0, 10_000, "KEYS", *keys, target_nodes=source)
    others = [node for node in raw.get_primaries() if node.name not in (source.name, target.name)]
    for node in (target, source, *others):  # the new owner first, so no node redirects to one that refuses
        raw.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id, target_nodes=node)


def agreed_owner(raw: RedisCluster, key: str, owner: ClusterNode) -> None:
    """Wait until every master names ``owner`` for ``key``'s slot: the owner answers, the others
    redirect to it. The masters learn a new owner from each other, so an operator's resharding
    waits for them to agree before it is done (as ``redis-cli --cluster check`` does)."""

    def names_owner(node: ClusterNode) -> bool:
        try:
            raw.get_redis_connection(node).execute_command("EXISTS", key)
        except redis.exceptions.MovedError as exc:
            return f"{exc.host}:{exc.port}" == owner.name
        return node.name == owner.name

    deadline = time.monotonic() + 30  # a bound on the wait (gossip is slow on a loaded machine), not a measured figure
    while not all(names_owner(node) for node in raw.get_primaries()):
        assert time.monotonic() < deadline, f"the masters do not agree that {owner.name} serves {key!r}"
        time.sleep(0.02)


@contextmanager
def resharded(hub: dbplex.Hub, raw: RedisCluster, key: str) -> Iterator[tuple[ClusterNode, ClusterNode]]:
    """The slot of ``key`` moved to another master after the hub's client read the slot map, and
    moved back after the block: ``(old owner, new owner)``. The hub learns of it only by ``MOVED``."""
    slot = raw.keyslot(key)
    source = raw.get_node_from_key(key)
    target = next(node for node in raw.get_primaries() if node.name != source.name)
    with hub.connection("c") as client:
        assert client.node_for(key) == source.name  # the map the hub's ops go by
    move_slot(raw, slot, source, target)
    try:
        agreed_owner(raw, key, target)
        with pytest.raises(redis.exceptions.MovedError):  # the old owner redirects: the path under test
            raw.get_redis_connection(source).execute_command("GET", key)
        yield source, target
    finally:
        move_slot(raw, slot, target, source)
        agreed_owner(raw, key, source)


def test_a_resharded_slot_is_followed(cluster: dbplex.Hub, raw: RedisCluster, unique_table: str) -> None:
    """A slot moved to another master with its keys: the old owner answers MOVED, the op still succeeds."""
    cluster.execute("c", Put(unique_table, "k", {"a": 1}))
    family = f"{{{unique_table}}}"
    with resharded(cluster, raw, family) as (_, target):
        assert cluster.execute("c", Get(unique_table, "k")).one()["values"] == {"a": 1}
        assert cluster.execute("c", Put(unique_table, "k2", {"b": 2})).affected == 1
        with cluster.connection("c") as client:
            assert client.node_for(family) == target.name  # the slot map was read again
        there = raw.get_redis_connection(target).execute_command("CLUSTER GETKEYSINSLOT", raw.keyslot(family), 1000)
        names = [key.decode() if isinstance(key, bytes) else key for key in there]
        assert sum(family in name for name in names) == 3  # records k and k2, and the table's key index
    assert [r["key"] for r in cluster.execute("c", Scan(unique_table, "", 5))] == ["k", "k2"]  # and back


def test_a_transaction_follows_a_resharded_slot(cluster: dbplex.Hub, raw: RedisCluster, prefix: str) -> None:
    """MULTI/EXEC sent to the old owner of a moved slot: the server aborts it (MOVED), the op refreshes
    the slot map and runs it again on the new owner."""
    a = f"{{{prefix}tm}}:a"
    with resharded(cluster, raw, a) as (_, target):
        rows = cluster.execute("c", Pipeline([["SET", a, 1], ["INCR", a]])).rows
        assert rows == [{"value": "OK"}, {"value": 2}]
        assert raw.get_redis_connection(target).get(a) == b"2"  # ran once, on the new owner


def test_a_slot_under_migration_is_followed_with_asking(cluster: dbplex.Hub, raw: RedisCluster, prefix: str) -> None:
    """The slot is MIGRATING on its node and IMPORTING on another: a new key gets ASK, then ASKING there."""
    key = f"{{{prefix}ask}}:k"
    slot = raw.keyslot(key)
    source_node = raw.get_node_from_key(key)
    target_node = next(node for node in raw.get_primaries() if node.name != source_node.name)
    source_id, target_id = node_id(raw, source_node), node_id(raw, target_node)
    try:
        raw.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id, target_nodes=target_node)
        raw.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id, target_nodes=source_node)
        assert cluster.execute("c", Command(["SET", key, "moved-in"])).scalar() == "OK"  # ASK, then ASKING
        assert cluster.execute("c", Command(["GET", key])).scalar() == "moved-in"
        target = raw.get_redis_connection(target_node)
        assert target.execute_command("ASKING") and target.execute_command("GET", key) == b"moved-in"
        target.execute_command("ASKING")
        target.execute_command("DEL", key)
    finally:
        for node in (source_node, target_node):
            raw.execute_command("CLUSTER SETSLOT", slot, "STABLE", target_nodes=node)


@pytest.fixture
def own_cluster() -> Iterator[sandbox.Sandbox]:
    """A three-master cluster of the test's own, whose nodes it may stop."""
    directory = Path(tempfile.mkdtemp(prefix="dbplex-test-own-cluster-")) / "sb"
    try:
        yield sandbox.up(directory, servers=(), redis_cluster=3)
    finally:
        sandbox.down(directory)
        shutil.rmtree(directory.parent, ignore_errors=True)


def test_keys_that_cannot_be_looked_up_fail_the_op_rather_than_skip_the_slot_check(
    own_cluster: sandbox.Sandbox, prefix: str
) -> None:
    """The node asked for a command's keys (the master of its first argument) is down: the op fails,
    naming the look-up."""
    down = own_cluster.server("redis-cluster2")
    source = {"url": own_cluster.urls["redis_cluster"], "connect_timeout": 1}
    with dbplex.open({"sources": {"c": source}}) as hub, hub.connection("c") as client:
        keys = (f"{{{prefix}p{i}}}:a" for i in range(1000))
        p = next(key for key in keys if client.node_for(key).endswith(f":{down.port}"))
        q = f"{{{prefix}q}}:b"
        hub.execute("c", Command(["GET", q]))  # the command table is read (from any master) before the stop
        sandbox.stop_server(own_cluster.directory, down.name)
        # SORT ... STORE: the server's key specs for STORE are "incomplete", so only the server can
        # name the keys (COMMAND GETKEYS)
        with pytest.raises(
            SourceUnavailable, match=rf"cannot find the keys of SORT \(COMMAND GETKEYS on {client.node_for(p)}"
        ):
            hub.execute("c", Command(["SORT", p, "STORE", q]))


@pytest.mark.parametrize(
    "args",
    [["KEYS", "*"], ["SCAN", 0], ["DBSIZE"], ["RANDOMKEY"], ["FLUSHDB"], ["SCRIPT", "LOAD", "return 1"]],
    ids=["KEYS", "SCAN", "DBSIZE", "RANDOMKEY", "FLUSHDB", "SCRIPT LOAD"],
)
def test_keyless_commands_for_the_whole_keyspace_are_refused(
    cluster: dbplex.Hub, raw: RedisCluster, prefix: str, args: list[Any]
) -> None:
    raw.set(f"{prefix}kept", 1)
    with pytest.raises(UnsupportedError, match=r"covers the whole keyspace.*one node.*native client"):
        cluster.execute("c", Command(args))
    with pytest.raises(UnsupportedError, match="covers the whole keyspace"):
        cluster.execute("c", Pipeline([["PING"], args], transaction=False))
    assert raw.get(f"{prefix}kept") == b"1"  # nothing ran
    assert cluster.execute("c", Command(["PING"])).scalar() == "PONG"  # a keyless command of one node runs


def test_health_is_up_for_a_user_whose_acl_forbids_info(source_url: str, raw: RedisCluster) -> None:
    user = "dbplex_noinfo"
    raw.execute_command("ACL SETUSER", user, "on", ">pw", "~*", "+@all", "-info", target_nodes=RedisCluster.ALL_NODES)
    try:
        seeds = ",".join(cluster_url.netloc(h, p) for h, p in cluster_url.parse(source_url).seeds)
        with dbplex.open({"sources": {"c": {"url": f"redis+cluster://{user}:pw@{seeds}"}}}) as hub:
            check = hub.health().sources[0]
        assert check.status is Status.UP and check.server_version is None  # no StopIteration
        assert {n["state"] for n in check.details["nodes"]} == {"up"}
    finally:
        raw.execute_command("ACL DELUSER", user, target_nodes=RedisCluster.ALL_NODES)


@pytest.mark.parametrize("password", NASTY_PASSWORDS)
def test_an_unencoded_password_reaches_the_server_as_the_password(
    source_url: str, raw: RedisCluster, unique_table: str, password: str
) -> None:
    """A password with the characters that end a URL's host part, unencoded (``%2F`` decoded), logs in."""
    user = f"dbplex_pw_{unique_table}"
    raw.execute_command(
        "ACL SETUSER", user, "on", f">{unquote(password)}", "~*", "+@all", target_nodes=RedisCluster.ALL_NODES
    )
    try:
        seeds = ",".join(cluster_url.netloc(h, p) for h, p in cluster_url.parse(source_url).seeds)
        with dbplex.open({"sources": {"c": {"url": f"redis+cluster://{user}:{password}@{seeds}"}}}) as hub:
            hub.execute("c", Put(unique_table, "k", {"a": 1}))
            assert hub.execute("c", Get(unique_table, "k")).one()["values"] == {"a": 1}
    finally:
        raw.execute_command("ACL DELUSER", user, target_nodes=RedisCluster.ALL_NODES)


def named_connections(raw: RedisCluster, name: str) -> int:
    """How many connections named ``name`` (CLIENT SETNAME) the masters have open."""
    clients = (c for node in raw.get_primaries() for c in raw.get_redis_connection(node).client_list())
    return sum(1 for c in clients if c["name"] == name)


def open_named(source_url: str, name: str) -> dbplex.Hub:
    """A hub on the cluster whose connections are named ``name`` and kept open (min_size, keepalive)."""
    url = f"{source_url}{'&' if '?' in source_url else '?'}client_name={name}"
    return dbplex.open({"sources": {"c": {"url": url, "pool": {"min_size": 1, "keepalive": 0.1}}}})


def test_closing_a_cluster_source_closes_every_connection_and_opens_nothing(
    source_url: str, raw: RedisCluster, unique_table: str
) -> None:
    name = f"dbplex_close_{unique_table}"
    hub = open_named(source_url, name)
    hub.execute("c", Put(unique_table, "k", {"a": 1}))
    assert named_connections(raw, name) >= len(raw.get_primaries())  # min_size on every master
    before = set(threading.enumerate())
    hub.close()
    assert not set(threading.enumerate()) - before  # no pool opened (and so no thread started)
    for _ in range(100):  # the servers see the sockets close a moment later
        if not named_connections(raw, name):
            break
        time.sleep(0.05)
    assert named_connections(raw, name) == 0


def test_closing_a_cluster_source_ends_every_pool_thread_it_started(source_url: str, unique_table: str) -> None:
    """The seed's pool, which redis-py drops once it knows the nodes, is closed too (not left to GC)."""
    before = set(threading.enumerate())
    hub = open_named(source_url, f"dbplex_threads_{unique_table}")
    hub.execute("c", Put(unique_table, "k", {"a": 1}))
    hub.close()
    left = [t.name for t in threading.enumerate() if t not in before and t.name.startswith("dbplex-pool:")]
    assert left == []


# -- pool, health, errors ------------------------------------------------------------------------------


def test_pool_stats_add_up_the_nodes_and_health_lists_them(
    cluster: dbplex.Hub, raw: RedisCluster, unique_table: str
) -> None:
    for i in range(24):
        cluster.execute("c", Put(f"{unique_table}_{i}", "k", {"i": i}))
    stats = cluster.pool_stats()["c"]
    primaries = raw.get_primaries()
    masters = len(primaries)  # each master's pool keeps 1..4: the source's bounds are those times the masters
    assert stats.backend == "redis_cluster" and stats.max == 4 * masters and stats.min == masters
    assert stats.size == stats.idle == masters and stats.acquired >= 24
    check = cluster.health().sources[0]
    assert check.status is Status.UP and check.server_version and check.error is None
    nodes = check.details["nodes"]
    assert check.details["mode"] == "cluster"
    assert sorted(n["node"] for n in nodes) == sorted(p.name for p in primaries)
    assert {(n["role"], n["state"], n["cluster_state"]) for n in nodes} == {("primary", "up", "ok")}
    assert sum(n["slots"] for n in nodes) == 16384
    cluster.resize("c", 2, 6)  # every node's pool, min_size filled in the background
    assert wait_until(lambda: cluster.pool_stats()["c"].size == 2 * len(primaries))
    stats = cluster.pool_stats()["c"]
    assert (stats.min, stats.max) == (2 * masters, 6 * masters)


def test_unreachable_seeds_give_one_line_with_the_redacted_url(free_port: int) -> None:
    url = f"redis+cluster://app:s3cret@127.0.0.1:{free_port},127.0.0.1:{free_port}"
    with (
        dbplex.open({"sources": {"gone": {"url": url, "connect_timeout": 1}}}) as hub,
        pytest.raises(SourceUnavailable) as caught,
    ):
        hub.execute("gone", Get("t", "k"))
    message = str(caught.value)
    assert message == (
        f"source 'gone': redis+cluster://app:***@127.0.0.1:{free_port},127.0.0.1:{free_port}: "
        f"no seed node answered (last: cannot connect to 127.0.0.1:{free_port}: connection refused)"
    )


@pytest.mark.parametrize("password", ["s3cr/et", "pa?ss#wo", "a@b/c?d#e", "x:y/z@w"])
def test_no_error_shows_any_part_of_an_unencoded_password(free_port: int, password: str) -> None:
    pieces = {password} | {p for sep in "/?#@:" for p in password.split(sep) if len(p) > 1}
    urls = [
        f"redis+cluster://app:{password}@127.0.0.1:{free_port}",  # nothing listens
        f"redis+cluster://app:{password}@127.0.0.1:x{free_port}",  # a bad port
        f"redis+cluster://app:{password}@127.0.0.1:{free_port}/3",  # a database
    ]
    for url in urls:
        with dbplex.open({"sources": {"gone": {"url": url, "connect_timeout": 1}}}) as hub:
            assert not any(piece in repr(hub.sources["gone"]) for piece in pieces)
            with pytest.raises(dbplex.DbplexError) as caught:
                hub.execute("gone", Get("t", "k"))
            message = str(caught.value)
            assert not any(piece in message for piece in pieces), (url, message)
            report = hub.health().sources[0]
            assert not any(piece in (report.error or "") for piece in pieces), report.error


def test_a_silent_seed_fails_within_connect_timeout(silent_port: int) -> None:
    with dbplex.open(
        {"sources": {"c": {"url": f"redis+cluster://127.0.0.1:{silent_port}", "connect_timeout": 0.5}}}
    ) as hub:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=r"no seed node answered \(last: .*no answer within 0.5s"):
            hub.execute("c", Get("t", "k"))
    assert time.monotonic() - started < 2.5


def test_a_seed_without_cluster_mode_is_a_config_error(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis+cluster://").rsplit("/", 1)[0]
    with dbplex.open({"sources": {"c": {"url": url}}}) as hub, pytest.raises(ConfigError, match="without cluster mode"):
        hub.execute("c", Get("t", "k"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://127.0.0.1:7000/2", "only database 0"),
        ("redis+cluster://127.0.0.1:7000,127.0.0.1:x", "no valid port"),
        ("redis+cluster://", "names no seed node"),
    ],
)
def test_invalid_cluster_urls_are_config_errors(url: str, message: str) -> None:
    with dbplex.open({"sources": {"c": {"url": url}}}) as hub, pytest.raises(ConfigError, match=message):
        hub.execute("c", Get("t", "k"))
