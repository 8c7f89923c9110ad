"""The conformance suite's record section, run through ``dbplex.open`` and ``dbplex.open_async``.

Every assertion is the section's own (:mod:`dbplex.testing.conformance`); :class:`BothModes`
gives each test a sync hub, then an async one, so the two APIs are held to the same answers,
errors, pool stats and health on every in-repo backend.
"""

from __future__ import annotations

from dbplex.testing.aio import BothModes
from dbplex.testing.conformance import RecordsSection
from tests.mongo.test_conformance import KnownNxBugs


class TestPgBothModes(BothModes, RecordsSection):
    backend = "pg"


class TestRedisBothModes(BothModes, RecordsSection):
    backend = "redis"


class TestMongoBothModes(BothModes, KnownNxBugs):
    backend = "mongo"
