"""Fixtures for the PostgreSQL backend's tests: the server, hubs on it and a raw psycopg connection.

The server comes from ``DBPLEX_TEST_PG_URL`` (or the sandbox) and may be shared: every test
uses tables and schemas of its own and drops them afterwards, never anything else.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import dbplex
from dbplex.testing.plugin import Servers


@pytest.fixture(scope="session")
def pg_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("pg")


@pytest.fixture(scope="session")
def raw(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain psycopg connection (autocommit) for setting up and checking what dbplex did."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def unique_table(request: pytest.FixtureRequest) -> Iterator[str]:
    """A table name no other test uses; the test's tables (``<name>``, ``<name>_other``) are dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    uses_server = "pg_url" in request.fixturenames or "source_url" in request.fixturenames
    conn: psycopg.Connection[Any] | None = request.getfixturevalue("raw") if uses_server else None
    yield name
    if conn is not None:
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in (name, f"{name}_other"))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(tables))


@pytest.fixture
def unique_schema(raw: psycopg.Connection[Any]) -> Iterator[str]:
    """A schema of this test's own, dropped with everything in it afterwards."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    raw.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def make_hub(pg_url: str, open_config: Callable[[dict[str, Any]], dbplex.Hub]) -> Callable[..., dbplex.Hub]:
    """``make_hub(url=..., **source_fields)`` opens a hub with one PostgreSQL source ``pg``; closed after the test."""

    def make(url: str | None = None, **fields: Any) -> dbplex.Hub:
        fields.setdefault("pool", {"min_size": 1, "max_size": 4})
        return open_config({"sources": {"pg": {"url": url or pg_url, **fields}}})

    return make


@pytest.fixture
def hub(make_hub: Callable[..., dbplex.Hub]) -> dbplex.Hub:
    """A hub with one PostgreSQL source ``pg`` (pool of 1 to 4 connections)."""
    return make_hub()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections but never answers (the kernel completes them)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])
