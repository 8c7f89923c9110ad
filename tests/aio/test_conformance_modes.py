"""The conformance suite's record and pool sections, run through ``dbplex.open`` and ``dbplex.open_async``.

Every assertion is the section's own (:mod:`dbplex.testing.conformance`); :class:`BothModes`
gives each test a sync hub, then an async one, so the two APIs are held to the same answers,
errors, pool stats and health on every in-repo backend.
"""

from __future__ import annotations

from typing import Any

import pytest

from dbplex.testing.aio import BothModes
from dbplex.testing.conformance import RecordsSection
from dbplex.testing.conformance_pool import PoolSection
from tests.mongo.test_conformance import KnownNxBugs
from tests.pg import test_conformance as pg_conformance  # a module: its test class is not collected again here
from tests.redis import test_conformance as redis_conformance


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


class TestRedisPoolBothModes(BothModes, PoolSection):
    backend = "redis"
    tagged_url = redis_conformance.TestConformance.tagged_url
    kill_connections = redis_conformance.TestConformance.kill_connections

    def test_a_connection_killed_by_the_server_is_replaced_not_handed_out(
        self, request: pytest.FixtureRequest, open_source: Any, source_url: str, unique_table: str
    ) -> None:
        if request.node.callspec.params["open_source"] == "async":
            request.applymarker(
                pytest.mark.xfail(
                    strict=True,
                    reason="not built (docs/asyncio.md): the async Redis connector does not look at an idle "
                    "socket before lending it, so the first op on a connection the server closed fails",
                )
            )
        super().test_a_connection_killed_by_the_server_is_replaced_not_handed_out(open_source, source_url, unique_table)
