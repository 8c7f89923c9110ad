"""Tables, collections and a key family of each test's own over PostgreSQL, MongoDB and Redis
(a PostgreSQL schema and a MongoDB database of their own, as the migration tests have, so that
``dbplex migrate`` keeps its history there), and ``dbplex schema diff`` run through the CLI with
a configuration in ``tmp_path``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import dbplex
from dbplex.cli.main import cli
from tests.migrate.conftest import mongo_url, pg_url

__all__ = ["mongo_url", "pg_url"]  # fixtures: a fresh PostgreSQL schema and MongoDB database


@dataclass
class Places:
    """Where a test's data is, the hub writing it, and the CLI reading it."""

    name: str
    hub: dbplex.Hub
    config: Path

    def table(self, suffix: str, columns: str) -> str:
        """A new PostgreSQL table ``<name>_<suffix>`` with ``columns``."""
        table = f"{self.name}_{suffix}"
        with self.hub.connection("pg") as conn:
            conn.execute(f"CREATE TABLE {table} ({columns})")
            conn.commit()
        return table

    def collection(self, suffix: str, documents: list[dict[str, Any]]) -> str:
        collection = f"{self.name}_{suffix}"
        with self.hub.connection("docs") as db:
            db[collection].insert_many(documents)
        return collection

    def family(self, records: dict[str, dict[str, Any]]) -> str:
        """A hash key family ``<name>:<key>`` holding ``records``; its pattern."""
        with self.hub.connection("cache") as client:
            for key, values in records.items():
                client.hset(f"{self.name}:{key}", mapping=values)
        return f"{self.name}:*"

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def diff(self, *args: str) -> tuple[int, dict[str, Any]]:
        """``schema diff ARGS --json``: the exit code and the report."""
        result = self.cli("schema", "diff", *args, "--json")
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, json.loads(result.output)


def found(report: dict[str, Any]) -> set[tuple[str, str]]:
    """A report's differences as (kind, field) pairs."""
    return {(d["kind"], d["field"]) for d in report["differences"]}


@pytest.fixture
def places(dbplex_servers: Any, pg_url: str, mongo_url: str, tmp_path: Path) -> Iterator[Places]:
    sources = {"pg": pg_url, "docs": mongo_url, "cache": dbplex_servers.url("redis")}
    config = tmp_path / "dbplex.toml"
    config.write_text(
        'migrations = "migrations"\n'
        + "".join(f"[sources.{name}]\nurl = {json.dumps(url)}\n" for name, url in sources.items())
    )
    hub = dbplex.open(config)
    data = Places(f"sd_{uuid.uuid4().hex[:10]}", hub, config)
    try:
        yield data
    finally:
        with hub.connection("cache") as client:
            keys = list(client.scan_iter(match=f"{data.name}:*"))
            if keys:
                client.delete(*keys)
        hub.close()
