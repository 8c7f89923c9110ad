"""The backend conformance suite, run against PostgreSQL."""

from __future__ import annotations

from dbplex.testing.conformance import ConformanceSuite


class TestConformance(ConformanceSuite):
    backend = "pg"
