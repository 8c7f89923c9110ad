"""Shared helpers for partitioning tests: spec factories and the backends that have a partitioner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from dbplex.partition import PartitionSpec


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def spec_factory(**defaults: Any) -> Callable[..., PartitionSpec]:
    """A maker of specs: a daily time range on ``at``, then ``defaults``; each call's fields override both."""

    def make(**fields: Any) -> PartitionSpec:
        return PartitionSpec(**{"strategy": "range", "key": "at", "interval": "1 day", **defaults, **fields})

    return make


#: a time-range spec on ``pg`` with sensible defaults; ``fields`` override.
time_spec = spec_factory(source="pg", target="events", premake=2)


@pytest.fixture
def now() -> datetime:
    return utc(2026, 11, 25, 13, 30)


# -- the backends that have a partitioner ------------------------------------------------------

BACKENDS = ("pg", "mongo", "redis")
#: columns of the test rows: id (unique), at (the time key), grp (int or None), name (text).
PG_COLUMNS = "id bigint NOT NULL, at timestamptz NOT NULL, grp integer, name text"


class Engine:
    """One backend's server with a fresh target name: specs for it, its preparation and cleanup."""

    def __init__(self, backend: str, url: str, target: str) -> None:
        import dbplex

        self.backend = backend
        self.url = url
        self.target = target
        self.config = {"sources": {backend: {"url": url}}}
        self.hub = dbplex.open(self.config)

    def spec(self, **fields: Any) -> PartitionSpec:
        """A daily time spec on ``at`` for this backend's target; ``fields`` override."""
        base: dict[str, Any] = {
            "source": self.backend,
            "target": self.target,
            "strategy": "range",
            "key": "at",
            "interval": "1 day",
            "premake": 2,
            "name": f"{self.backend}_{self.target}",
        }
        if self.backend == "mongo":
            base["options"] = {"layout": "collections"}
        return PartitionSpec(**{**base, **fields})

    def prepare(self, spec: PartitionSpec) -> None:
        """Make what the spec needs before partitions: PostgreSQL's partitioned parent table."""
        if self.backend == "pg":
            import psycopg

            method = {"range": "RANGE", "list": "LIST", "hash": "HASH"}[spec.strategy]
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"CREATE TABLE {spec.target} ({PG_COLUMNS}) PARTITION BY {method} ({spec.key})")

    def write_config(self, directory: Path, specs: list[PartitionSpec]) -> tuple[Path, Path]:
        """A configuration file with this source, and a spec file with ``specs``."""
        import msgspec

        config = directory / "dbplex.toml"
        config.write_text(f'[sources.{self.backend}]\nurl = "{self.url}"\n')
        lines = []
        for spec in specs:
            data = {k: v for k, v in msgspec.to_builtins(spec).items() if k != "name" and v not in (None, {}, [])}
            lines.append(f"[partitions.{spec.name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in data.items()]
        file = directory / "partitions.toml"
        file.write_text("\n".join(lines) + "\n")
        return config, file

    def cleanup(self) -> None:
        self.hub.close()
        if self.backend == "pg":
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                found = conn.execute(
                    "SELECT c.relname FROM pg_class c WHERE c.relname LIKE %s AND c.relkind IN ('r', 'p') "
                    "AND NOT c.relispartition",
                    [f"{self.target}%"],
                ).fetchall()
                for (table,) in found:
                    conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        elif self.backend == "mongo":
            import pymongo

            with pymongo.MongoClient(self.url) as client:
                db = client.get_default_database("dbplex")
                for name in db.list_collection_names():
                    if name.startswith(self.target):
                        db.drop_collection(name)
        elif self.backend == "redis":
            import redis

            client = redis.Redis.from_url(self.url)
            try:
                for key in client.scan_iter(match=f"*{self.target}*", count=1000):
                    client.delete(key)
            finally:
                client.close()


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, dbplex_servers: Any, unique_table: str) -> Iterator[Engine]:
    """Each backend in turn, with a fresh target."""
    found = Engine(request.param, dbplex_servers.url(request.param), unique_table)
    yield found
    found.cleanup()
