"""The backend conformance suite, run against PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg

import dbplex
from dbplex.partition import PartitionSpec
from dbplex.testing.conformance import ConformanceSuite
from dbplex_pg import SQL


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


class TestConformance(ConformanceSuite):
    backend = "pg"

    def tagged_url(self, url: str, tag: str) -> str:
        return _with_query(url, f"application_name={tag}")

    def kill_connections(self, url: str, tag: str) -> int:
        """pg_terminate_backend with a timeout returns once each session has ended (PostgreSQL 14+)."""
        with psycopg.connect(url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = %s",
                [tag],
            ).fetchone()
        return int(ended[0]) if ended else 0

    @contextmanager
    def isolated(self, url: str) -> Iterator[dict[str, Any]]:
        schema = f"conf_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield {"url": _with_query(url, "options=" + quote(f"-csearch_path={schema}"))}
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")

    def prepare_partitioned(self, hub: dbplex.Hub, spec: PartitionSpec) -> None:
        columns = "id bigint NOT NULL, at timestamptz NOT NULL, grp integer, name text"
        hub.execute("s", SQL(f"CREATE TABLE {spec.target} ({columns}) PARTITION BY RANGE ({spec.key})"))

    def plant(self, hub: dbplex.Hub, table: str, rows: list[dict[str, Any]]) -> str:
        key = "text" if rows and isinstance(rows[0]["id"], str) else "bigint"
        hub.execute("s", SQL(f'CREATE TABLE "{table}" (id {key} PRIMARY KEY, name text, n integer)'))
        columns = [[r[c] for r in rows] for c in ("id", "name", "n")]
        hub.execute(
            "s", SQL(f'INSERT INTO "{table}" SELECT * FROM unnest(%s::{key}[], %s::text[], %s::int[])', columns)
        )
        return table

    def check_sql(self, hub: dbplex.Hub, table: str) -> None:
        import sqlalchemy as sa

        from dbplex_pg import Statement

        assert hub.execute("s", SQL("SELECT %s::int + 1 AS n", [41])).rows == [{"n": 42}]
        assert hub.execute("s", Statement(sa.select(sa.literal(7).label("n")))).rows == [{"n": 7}]

    def check_fulltext(self, hub: dbplex.Hub, table: str) -> None:
        query = "SELECT to_tsvector('english', %s) @@ plainto_tsquery('english', %s) AS hit"
        assert hub.execute("s", SQL(query, ["the quick brown foxes jumped", "fox jump"])).rows == [{"hit": True}]
