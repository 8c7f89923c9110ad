"""The conformance suite's record and pool sections, run through ``dbplex.open`` and ``dbplex.open_async``.

Every assertion is the section's own (:mod:`dbplex.testing.conformance`); :class:`BothModes`
gives each test a sync hub, then an async one, so the two APIs are held to the same answers,
errors, pool stats and health on every in-repo backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from pymongo import CursorType

from dbplex.testing.aio import BlockingHub, BothModes
from dbplex.testing.conformance import RecordsSection
from dbplex.testing.conformance_pool import PoolSection
from tests.mongo import test_conformance as mongo_conformance
from tests.mongo.test_conformance import KnownNxBugs
from tests.pg import test_conformance as pg_conformance  # a module: its test class is not collected again here
from tests.redis import test_conformance as redis_conformance
from tests.redis.test_cluster import ClusterSuite, seed_url
from tests.redis.test_cluster import TestConformance as ClusterConformance

__all__ = ["seed_url"]  # the cluster's fixture


class TestPgBothModes(BothModes, RecordsSection):
    backend = "pg"


class TestRedisBothModes(BothModes, RecordsSection):
    backend = "redis"


class TestMongoBothModes(BothModes, KnownNxBugs):
    backend = "mongo"


class TestPgPoolBothModes(BothModes, PoolSection):
    """The pool section on the asyncio pool too; the backend's session tagging and killing are its
    conformance class's."""

    backend = "pg"
    tagged_url = pg_conformance.TestConformance.tagged_url
    kill_connections = pg_conformance.TestConformance.kill_connections


class RedisIdleSocket(PoolSection):
    """The pool section's killed-connection test, expected to fail under asyncio on Redis (listed as not built)."""

    def test_a_connection_killed_by_the_server_is_replaced_not_handed_out(
        self, request: pytest.FixtureRequest, open_source: Any, source_url: str, unique_table: str
    ) -> None:
        not_built_under_asyncio(
            request,
            "the async Redis connector does not look at an idle socket before lending it, so the first op on "
            "a connection the server closed fails",
        )
        super().test_a_connection_killed_by_the_server_is_replaced_not_handed_out(open_source, source_url, unique_table)


class TestRedisPoolBothModes(BothModes, RedisIdleSocket):
    backend = "redis"
    tagged_url = redis_conformance.TestConformance.tagged_url
    kill_connections = redis_conformance.TestConformance.kill_connections


def not_built_under_asyncio(request: pytest.FixtureRequest, what: str) -> None:
    """Expect the async run of this test to fail (strictly): ``what`` is listed as not built in docs/asyncio.md."""
    if request.node.callspec.params["open_source"] == "async":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"not built (docs/asyncio.md): {what}"))


class TestMongoPoolBothModes(BothModes, PoolSection):
    backend = "mongo"
    tagged_url = mongo_conformance.TestConformance.tagged_url
    test_a_connection_killed_by_the_server_is_replaced_not_handed_out = (
        mongo_conformance.TestConformance.test_a_connection_killed_by_the_server_is_replaced_not_handed_out
    )

    @contextmanager
    def hold(self, hub: Any, table: str, count: int) -> Iterator[None]:
        """As the MongoDB suite's: exhaust cursors keep their connections; under asyncio, on the hub's loop."""
        if not isinstance(hub, BlockingHub):
            with mongo_conformance.TestConformance.hold(self, hub, table, count):
                yield
            return
        with hub.connection("s") as db:
            collection = db[f"{table}_hold"]

            async def filled() -> None:
                if await collection.estimated_document_count() < 3:
                    await collection.insert_many([{"n": n} for n in range(3)])

            hub.run(filled())
            cursors = []
            try:
                for _ in range(count):
                    cursor = collection.find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
                    cursors.append(cursor)
                    hub.run(cursor.next())
                yield
            finally:
                for cursor in cursors:
                    hub.run(cursor.close())


class TestRedisClusterBothModes(BothModes, ClusterSuite):
    """The records section on a Redis Cluster (``ClusterSuite``: the sandbox's three masters)."""


class TestRedisClusterPoolBothModes(BothModes, ClusterSuite, RedisIdleSocket):
    """The pool section on a cluster: each master's asyncio pool, added up as the sync pools are."""

    tagged_url = ClusterConformance.tagged_url
    kill_connections = ClusterConformance.kill_connections

    @contextmanager
    def hold(self, hub: Any, table: str, count: int) -> Iterator[None]:
        """Connections of the master serving ``table``, checked out through the cluster client."""
        if not isinstance(hub, BlockingHub):
            with ClusterConformance.hold(self, hub, table, count):
                yield
            return
        with hub.connection("s") as cluster, ExitStack() as stack:
            for _ in range(count):
                stack.enter_context(hub._entered(cluster.client(table)))
            yield
