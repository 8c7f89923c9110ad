"""The backend conformance suite, on a plain source and on a prefixed cache source with a TTL."""

from __future__ import annotations

from typing import Any, ClassVar

from dbplex.testing.conformance import ConformanceSuite


class TestConformance(ConformanceSuite):
    backend = "redis"


class TestConformanceWithPrefixAndTtl(ConformanceSuite):
    """Every uniform op again through the TTL code path (records expire only after a minute)."""

    backend = "redis"
    source_fields: ClassVar[dict[str, Any]] = {"options": {"prefix": "dbplex_conformance:", "ttl": 60}}
