"""Sandbox topologies: streaming replicas of pg, a Redis Cluster, and stopping/starting one server."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbplex import config, sandbox
from dbplex.cli.sandbox import sandbox as cli

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")
from redis.cluster import ClusterNode, RedisCluster  # noqa: E402


@pytest.fixture(scope="module")
def topology() -> Iterator[sandbox.Sandbox]:
    # under the system temp dir: PostgreSQL runs as another user and must reach its data
    parent = Path(tempfile.mkdtemp(prefix="dbplex-topology-"))
    try:
        yield sandbox.up(parent / "sb", servers=("pg",), pg_replicas=1, redis_cluster=3)
    finally:
        sandbox.down(parent / "sb")
        shutil.rmtree(parent, ignore_errors=True)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def eventually(probe: object, timeout: float = 30.0) -> None:
    """Poll ``probe()`` until it is truthy; fail after ``timeout`` (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{probe} never held within {timeout:g}s"
        time.sleep(0.05)


def replica_rows(url: str, table: str) -> int:
    """Rows of ``table`` on the replica; -1 until the table itself has been replayed."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        except psycopg.errors.UndefinedTable:
            return -1
    return int(row[0]) if row else 0


def test_replica_is_in_recovery_and_streams_the_primary_writes(topology: sandbox.Sandbox) -> None:
    primary, replica = topology.server("pg"), topology.server("pg-replica1")
    assert (replica.role, replica.member_of) == ("replica", "pg")
    with psycopg.connect(replica.url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    with psycopg.connect(primary.url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        conn.execute("CREATE TABLE streamed (n int)")
        conn.execute("INSERT INTO streamed SELECT generate_series(1, 100)")
    eventually(lambda: replica_rows(replica.url, "streamed") == 100)
    with psycopg.connect(replica.url, autocommit=True) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO streamed VALUES (0)")


def test_config_lists_replicas_under_the_primary(topology: sandbox.Sandbox) -> None:
    loaded = config.load(topology.config_path)
    assert sorted(loaded.sources) == ["pg", "redis_cluster"]  # replicas and cluster nodes are not sources of their own
    assert loaded.sources["pg"].replicas == [topology.server("pg-replica1").url]
    assert topology.urls["redis_cluster"].startswith("redis+cluster://127.0.0.1:")
    assert loaded.sources["redis_cluster"].url == topology.urls["redis_cluster"]
    env = topology.environ()
    assert env["DBPLEX_TEST_PG_REPLICA1_URL"] == topology.server("pg-replica1").url
    assert env["DBPLEX_TEST_REDIS_CLUSTER_URL"] == topology.urls["redis_cluster"]


def cluster_client(topology: sandbox.Sandbox) -> RedisCluster:
    nodes = [ClusterNode("127.0.0.1", s.port) for s in topology.clusters()["redis_cluster"]]
    return RedisCluster(startup_nodes=nodes, socket_timeout=5)


def test_cluster_serves_every_slot_across_its_masters(topology: sandbox.Sandbox) -> None:
    nodes = topology.clusters()["redis_cluster"]
    assert [n.name for n in nodes] == ["redis-cluster1", "redis-cluster2", "redis-cluster3"]
    for node in nodes:
        with redis.Redis(port=node.port) as client:
            info = client.cluster("info")
            assert info["cluster_state"] == "ok"
            assert int(info["cluster_known_nodes"]) == 3
            assert int(info["cluster_slots_assigned"]) == 16384
    client = cluster_client(topology)
    try:
        keys = [f"k{i}" for i in range(50)]
        for key in keys:
            client.set(key, key)
        owners = {client.keyslot(key) * 3 // 16384 for key in keys}  # keys land on every node's slot range
        assert len(owners) == 3
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()


def test_stop_and_start_one_server(topology: sandbox.Sandbox) -> None:
    directory = str(topology.directory)
    code, out = invoke("stop", "--dir", directory, "pg-replica1")
    assert (code, out.strip()) == (0, f"stopped pg-replica1 (pid {topology.server('pg-replica1').pid})")
    code, out = invoke("status", "--dir", directory, "--json")
    states = {s["name"]: s["running"] for s in json.loads(out)["servers"]}
    assert code == 1 and states["pg-replica1"] is False and states["pg"] is True
    with psycopg.connect(topology.server("pg").url, autocommit=True) as conn:
        conn.execute("CREATE TABLE while_stopped (n int)")
        conn.execute("INSERT INTO while_stopped VALUES (1), (2)")
    code, out = invoke("start", "--dir", directory, "pg-replica1")
    assert code == 0, out
    restarted = sandbox.status(topology.directory)
    assert restarted is not None and restarted.is_running()
    replica = restarted.server("pg-replica1")
    assert replica.pid != topology.server("pg-replica1").pid and replica.port == topology.server("pg-replica1").port
    eventually(lambda: replica_rows(replica.url, "while_stopped") == 2)  # it caught up with the writes it missed


def test_a_restarted_cluster_node_serves_its_slots_again(topology: sandbox.Sandbox) -> None:
    directory = str(topology.directory)
    assert invoke("stop", "--dir", directory, "redis-cluster2")[0] == 0
    assert invoke("start", "--dir", directory, "redis-cluster2")[0] == 0  # returns once cluster_state is ok
    node = sandbox.status(topology.directory).server("redis-cluster2")  # type: ignore[union-attr]
    with redis.Redis(port=node.port) as client:
        assert client.cluster("info")["cluster_state"] == "ok"


def test_start_and_stop_refuse_what_they_cannot_do(topology: sandbox.Sandbox) -> None:
    directory = str(topology.directory)
    code, out = invoke("start", "--dir", directory, "pg")
    assert code == 2 and "pg is already running" in out
    code, out = invoke("stop", "--dir", directory, "nope")
    assert code == 2 and "no sandbox server named 'nope'" in out and "pg-replica1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-s", "redis", "--pg-replicas", "1"), "--pg-replicas needs the pg server"),
        (("-s", "redis", "--redis-cluster", "2"), "a Redis Cluster needs 3 to 64 masters"),
    ],
)
def test_up_refuses_impossible_topologies(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, out = invoke("up", "--dir", str(tmp_path / "sb"), *args)
    assert code == 2 and message in out
    assert sandbox.status(tmp_path / "sb") is None
