"""Fixtures for migration tests on real servers: an isolated place per test in each database.

PostgreSQL: a schema of its own (the URL sets ``search_path``), dropped afterwards. MongoDB: a
database of its own, dropped afterwards. Redis: a key prefix of its own (history and lock keys
get the source's prefix; migrations in these tests write keys under it), deleted afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

import dbplex
from dbplex.cli.main import cli
from dbplex.migrate import Migrations
from dbplex.testing.plugin import Servers


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.fixture
def pg_url(dbplex_servers: Servers) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema."""
    import psycopg

    base = dbplex_servers.url("pg")
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield _with_query(base, "options=" + quote(f"-csearch_path={schema}"))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_schema(pg_url: str) -> str:
    return pg_url.rpartition("search_path%3D")[2]


@pytest.fixture
def mongo_url(dbplex_servers: Servers) -> Iterator[str]:
    """A MongoDB URL naming a fresh database."""
    import pymongo

    base = dbplex_servers.url("mongo")
    name = f"mig_{uuid.uuid4().hex[:10]}"
    head, _, query = base.partition("?")
    url = head.rstrip("/").rsplit("/", 1)[0] if head.count("/") > 2 else head.rstrip("/")
    url = f"{url}/{name}" + (f"?{query}" if query else "")
    yield url
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(base, serverSelectionTimeoutMS=5000)
    client.drop_database(name)
    client.close()


@pytest.fixture
def redis_source(dbplex_servers: Servers) -> Iterator[dict[str, Any]]:
    """A Redis source (url and a fresh key prefix); its keys are deleted afterwards."""
    import redis

    url = dbplex_servers.url("redis")
    prefix = f"mig_{uuid.uuid4().hex[:10]}:"
    yield {"url": url, "options": {"prefix": prefix}}
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


class Project:
    """A configuration file and a migrations directory, run through the CLI or the API."""

    def __init__(self, root: Path, sources: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.dir = root / "migrations"
        self.dir.mkdir()
        self.config = root / "dbplex.toml"
        lines = []
        for name, fields in sources.items():
            lines.append(f"[sources.{name}]")
            for key, value in fields.items():
                if key != "options":
                    lines.append(f"{key} = {json.dumps(value)}")
            if fields.get("options"):
                lines.append(f"[sources.{name}.options]")
                lines.extend(f"{k} = {json.dumps(v)}" for k, v in fields["options"].items())
        self.config.write_text("\n".join(lines) + "\n")

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def remove(self, name: str) -> None:
        (self.dir / name).unlink()

    def cli(self, *args: str) -> Any:
        """``dbplex --config ... migrate ARGS`` in this process."""
        return CliRunner().invoke(cli, ["--config", str(self.config), "migrate", *args])

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """``dbplex migrate ARGS`` in a new process (for locks, kills and races)."""
        command = [sys.executable, "-m", "dbplex.cli.main", "--config", str(self.config), "migrate", *args]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
        )

    @contextmanager
    def open(self) -> Iterator[Migrations]:
        """The Python API over this project."""
        with dbplex.open(str(self.config)) as hub, Migrations(hub, self.dir) as migrations:
            yield migrations

    def history(self, source: str) -> list[Any]:
        with self.open() as migrations:
            return sorted(migrations.migrator(source).read_history(), key=lambda r: r.rank)


@pytest.fixture
def project(tmp_path: Path) -> Any:
    """``project(sources)`` makes a :class:`Project` in a fresh directory."""
    return lambda sources: Project(tmp_path, sources)
