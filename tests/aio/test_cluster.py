"""The ``redis_cluster`` backend under asyncio, on the sandbox's three-master cluster: ops routed
across slots, a resharded slot followed by ``MOVED``, the same refusals as the sync backend, and
cancellation that leaves no connection in use. The conformance sections run in both modes in
``test_conformance_modes.py``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

import dbplex
from dbplex import Get, Put, Scan, Status
from dbplex.errors import OpError, UnsupportedError
from dbplex.testing.aio import BlockingHub
from dbplex_redis import Command, Pipeline
from tests.redis.conftest import prefix
from tests.redis.test_cluster import raw, resharded, seed_url

__all__ = ["prefix", "raw", "seed_url"]  # fixtures


def config(seed_url: str, prefix: str, max_size: int = 4, **source: Any) -> dict[str, Any]:
    return {
        "sources": {
            "c": {
                "url": seed_url,
                "pool": {"min_size": 1, "max_size": max_size},
                "options": {"prefix": prefix},
                **source,
            }
        }
    }


@pytest.fixture
def blocking(seed_url: str, prefix: str) -> Iterator[BlockingHub]:
    """An async hub on a loop thread, driven from the test (the sync helpers' resharding needs it)."""
    hub = BlockingHub(config(seed_url, prefix))
    try:
        yield hub
    finally:
        hub.close()


def test_ops_on_tables_of_every_master_and_a_pipeline_across_nodes(
    seed_url: str, prefix: str, raw: RedisCluster, unique_table: str
) -> None:
    tables = [f"{unique_table}_{n}" for n in range(12)]
    keys = [f"{{{prefix}k{n}}}" for n in range(12)]

    async def main() -> None:
        async with dbplex.open_async(config(seed_url, prefix)) as hub:
            async with hub.connection("c") as cluster:
                assert len(cluster.masters()) == 3
                assert len({cluster.node_for(f"{{{t}}}") for t in tables}) == 3  # the tables span the masters
            await asyncio.gather(*(hub.execute("c", Put(t, "k", {"t": t})) for t in tables))
            for t in tables:
                assert (await hub.execute("c", Get(t, "k"))).one()["values"] == {"t": t}
                assert [r["key"] for r in await hub.execute("c", Scan(t, "", 10))] == ["k"]
            rows = (
                await hub.execute(
                    "c", Pipeline([["SET", k, n] for n, k in enumerate(keys)] + [["GET", keys[5]]], transaction=False)
                )
            ).rows
            assert rows == [{"value": "OK"}] * 12 + [{"value": "5"}]
            assert (await hub.execute("c", Command(["GET", keys[7]]))).scalar() == "7"
            with pytest.raises(OpError, match="map to 2 hash slots"):
                await hub.execute("c", Command(["MGET", keys[0], keys[1]]))
            with pytest.raises(UnsupportedError, match="covers the whole keyspace"):
                await hub.execute("c", Command(["DBSIZE"]))
            with pytest.raises(UnsupportedError, match="has no transactions"):
                async with hub.transaction("c"):
                    pass
            (check,) = (await hub.health(["c"])).sources
            assert check.status is Status.UP and len(check.details["nodes"]) == 3

    asyncio.run(main())
    assert raw.get(keys[3]) == b"3"


def test_a_resharded_slot_is_followed(blocking: BlockingHub, raw: RedisCluster, prefix: str, unique_table: str) -> None:
    """The slot moved after the async hub read the map: the old owner answers MOVED, the ops succeed
    (a record op and a transaction), and the map is read again."""
    table = unique_table
    family = f"{{{table}}}"
    blocking.execute("c", Put(table, "k", {"a": 1}))
    with resharded(blocking, raw, family) as (_, target):
        assert blocking.execute("c", Get(table, "k")).one()["values"] == {"a": 1}
        assert blocking.execute("c", Put(table, "k2", {"b": 2})).affected == 1
        with blocking.connection("c") as client:
            assert client.node_for(family) == target.name
    counter = f"{{{prefix}tm}}:a"
    with resharded(blocking, raw, counter) as (_, target):
        rows = blocking.execute("c", Pipeline([["SET", counter, 1], ["INCR", counter]])).rows
        assert rows == [{"value": "OK"}, {"value": 2}]
        assert raw.get_redis_connection(target).get(counter) == b"2"  # ran once, on the new owner
    assert [r["key"] for r in blocking.execute("c", Scan(table, "", 5))] == ["k", "k2"]


@pytest.mark.parametrize(
    "warm",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11),
                reason="Python 3.10: a cancellation arriving as redis-py's send ends is dropped by "
                "asyncio.wait_for and cannot be found again (no Task.cancelling(); docs/asyncio.md)",
            ),
        ),
    ],
    ids=["warm", "cold"],
)
def test_a_cancelled_op_leaves_no_connection_in_use(seed_url: str, prefix: str, raw: RedisCluster, warm: bool) -> None:
    """A task cancelled while its command blocks on a node: the connection is closed (its state is
    unknown), counted lost, and the pool is usable at once. On a cold hub the cancellation comes
    as redis-py's send of the command ends, where ``asyncio.wait_for`` drops it before Python 3.12."""
    key = f"{{{prefix}blocked}}:list"

    async def main() -> None:
        # an operation timeout past BLPOP's own 30 s, so only the cancellation ends the command
        # however slowly a loaded machine reports the client blocked
        async with dbplex.open_async(config(seed_url, prefix, max_size=1, operation_timeout=60)) as hub:
            if warm:
                assert (await hub.execute("c", Command(["LLEN", key]))).scalar() == 0
            node = raw.get_redis_connection(raw.get_node_from_key(key))
            blocked_before = int(node.info("clients")["blocked_clients"])
            task = asyncio.create_task(hub.execute("c", Command(["BLPOP", key, 30])))
            for _ in range(500):  # until the node reports the client blocked (a bound, not a timing)
                if int(node.info("clients")["blocked_clients"]) > blocked_before:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("BLPOP never blocked on the node")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stats = hub.pool_stats()["c"]
            assert stats.used == 0 and stats.lost >= 1
            assert (await hub.execute("c", Command(["RPUSH", key, "x"]))).scalar() == 1
            assert hub.pool_stats()["c"].used == 0

    asyncio.run(main())
    raw.delete(key)
