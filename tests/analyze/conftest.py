"""Fixtures for ``dbplex analyze`` on real servers: a PostgreSQL schema per test and a project.

The server may be shared, so every test plants its problems in a schema of its own (the URL's
``search_path`` names it, so migration history lands there too) and analyses only that schema
(``[analyze.pg] schemas``); the schema is dropped with everything in it afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from click.testing import CliRunner, Result

from dbplex.cli.main import cli
from dbplex.testing.plugin import Servers


@pytest.fixture(scope="session")
def pg_base(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("pg")


@pytest.fixture
def schema(pg_base: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards."""
    name = f"an_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def db(pg_base: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection whose search_path is the test's schema."""
    with psycopg.connect(pg_base, autocommit=True, options=f"-csearch_path={schema}") as conn:
        yield conn


def flush(conn: psycopg.Connection[Any]) -> None:
    """Make the statistics this session gathered visible to others now (PostgreSQL 15+): the
    server flushes them before it answers the next statement, not up to a second later."""
    conn.execute("SELECT pg_stat_force_next_flush()")


class Project:
    """A configuration file (the test's PostgreSQL schema as source ``pg``) run through the CLI."""

    def __init__(self, root: Path, url: str, schema: str, extra: str = "") -> None:
        self.root = root
        self.config = root / "dbplex.toml"
        self.migrations = root / "migrations"
        self.config.write_text(
            f"[sources.pg]\nurl = {json.dumps(url + '?options=' + quote(f'-csearch_path={schema}'))}\n"
            f"[analyze.pg]\nschemas = [{json.dumps(schema)}]\nmin_rows = 100\n{extra}"
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def analyze(self, *args: str) -> dict[str, Any]:
        result = self.cli("analyze", "--json", *args)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data


@pytest.fixture
def project(tmp_path: Path, pg_base: str, schema: str) -> Project:
    return Project(tmp_path, pg_base, schema)
