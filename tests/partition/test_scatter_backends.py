"""Cross-partition queries against real servers equal the same query on an unpartitioned copy.

The copy is a plain PostgreSQL table holding the same rows, queried with SQL; every backend with
a partitioner is compared against it (hypothesis draws the conditions, order, limit and offset).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row

from dbplex.partition import Condition, Order, PartitionQuery, partition_for
from dbplex.testing.plugin import Servers

from .conftest import PG_COLUMNS, Engine

NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
DAYS = 8
FIRST = (NOW - timedelta(days=DAYS)).replace(hour=0)
LAST = NOW.replace(hour=0) + timedelta(days=3)  # premake 2: the horizon is the end of the day after tomorrow
FIELDS = ("id", "at", "grp", "name")


def make_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    span = int((LAST - FIRST).total_seconds())
    rows = []
    for i in range(count):
        at = FIRST + timedelta(seconds=rng.randrange(span))
        if i % 10 == 0 and rows:  # equal keys across rows: ties the order must break
            at = rows[-1]["at"]
        grp = None if i % 7 == 0 else rng.randrange(5)
        rows.append({"id": i, "at": at, "grp": grp, "name": rng.choice(["ann", "bob", "cy", "dee"])})
    return rows


ROWS = make_rows(150, 11)


@pytest.fixture
def plain(dbplex_servers: Servers, unique_table: str) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """The unpartitioned copy: a plain PostgreSQL table with ROWS."""
    table = f"{unique_table}_plain"
    with psycopg.connect(dbplex_servers.url("pg"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(PG_COLUMNS)))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} (id, at, grp, name) VALUES (%s, %s, %s, %s)").format(sql.Identifier(table)),
                [(r["id"], r["at"], r["grp"], r["name"]) for r in ROWS],
            )
        yield conn, table
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def reference(conn: psycopg.Connection[Any], table: str, query: PartitionQuery) -> list[dict[str, Any]]:
    """``query`` in SQL on the plain table (PostgreSQL's default NULLS LAST / NULLS FIRST)."""
    ops = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
    where, params = [], []
    for c in query.where:
        if c.op == "in":
            where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(c.field)))
        else:
            where.append(sql.SQL("{} {} %s").format(sql.Identifier(c.field), sql.SQL(ops[c.op])))
        params.append(c.value)
    statement = sql.SQL("SELECT id, at, grp, name FROM {}").format(sql.Identifier(table))
    if where:
        statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    if query.order_by:
        statement += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(o.field), sql.SQL(o.direction.upper())) for o in query.order_by
        )
    if query.limit is not None:
        statement += sql.SQL(" LIMIT {}").format(sql.Literal(query.limit))
    if query.offset:
        statement += sql.SQL(" OFFSET {}").format(sql.Literal(query.offset))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(statement, params).fetchall()


moments = st.integers(-1, int((LAST - FIRST).total_seconds()) // 3600 + 1).map(lambda h: FIRST + timedelta(hours=h))
key_condition = st.one_of(
    st.tuples(st.sampled_from(["<", "<=", ">", ">="]), moments).map(lambda t: Condition("at", t[0], t[1])),  # type: ignore[arg-type]
    st.sampled_from(ROWS).map(lambda r: Condition("at", "==", r["at"])),
    st.lists(st.sampled_from(ROWS), max_size=4).map(lambda rs: Condition("at", "in", [r["at"] for r in rs])),
)
# conditions whose meaning every database shares (no NULL comparisons: SQL's and MongoDB's differ)
other_condition = st.one_of(
    st.tuples(st.sampled_from(["<", ">=", "=="]), st.integers(0, 4)).map(lambda t: Condition("grp", t[0], t[1])),  # type: ignore[arg-type]
    st.sampled_from(["ann", "bob", "cy"]).map(lambda n: Condition("name", "!=", n)),
)
queries = st.builds(
    lambda where, order, limit, offset: PartitionQuery(
        where=where, order_by=[*order, Order("id")], limit=limit, offset=offset
    ),
    st.lists(st.one_of(key_condition, other_condition), max_size=3),
    st.lists(
        st.builds(Order, st.sampled_from(["at", "grp", "name"]), st.sampled_from(["asc", "desc"])),
        max_size=2,
        unique_by=lambda o: o.field,
    ),
    st.one_of(st.none(), st.integers(0, 30)),
    st.integers(0, 20),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries)
def test_scatter_gather_equals_the_query_on_an_unpartitioned_copy(
    loaded: Engine, plain: tuple[psycopg.Connection[Any], str], query: PartitionQuery
) -> None:
    conn, table = plain
    partitioned = loaded.hub.partitioned(loaded.spec(since=FIRST.date().isoformat()))
    result = partitioned.run(query)
    expected = reference(conn, table, query)
    assert [_plain(r) for r in result.rows] == [_plain(r) for r in expected]
    # pruning never drops a partition that holds a matching row
    everything = partitioned.run(PartitionQuery(where=query.where))
    spec = partitioned.spec
    for row in everything.rows:
        holder = partition_for(spec, row["at"])
        assert holder is not None and holder.name in result.scanned
    assert not set(result.scanned) & set(result.pruned)


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    """The engine's target partitioned by day from FIRST, holding ROWS."""
    spec = engine.spec(since=FIRST.date().isoformat())
    engine.prepare(spec)
    partitioned = engine.hub.partitioned(spec)
    report = partitioned.apply()
    assert report.status in ("done", "nothing"), report.error
    assert partitioned.insert([dict(r) for r in ROWS]) == len(ROWS)
    return engine


def _plain(row: dict[str, Any]) -> tuple[Any, ...]:
    at = row["at"]
    if isinstance(at, datetime):
        at = at.astimezone(timezone.utc)
    return (row["id"], at, row.get("grp"), row.get("name"))


def test_pruning_is_reported_and_postgresql_explain_shows_it(loaded: Engine) -> None:
    partitioned = loaded.hub.partitioned(loaded.spec(since=FIRST.date().isoformat()))
    day = NOW.replace(hour=0) - timedelta(days=2)
    result = partitioned.query(("at", ">=", day), ("at", "<", day + timedelta(days=1)), order_by=["-at", "id"])
    assert result.scanned == [partition_for(partitioned.spec, day).name]  # type: ignore[union-attr]
    assert len(result.pruned) == len(partitioned.inventory().partitions) - 1
    assert [r["id"] for r in result.rows] == [
        r["id"]
        for r in sorted(ROWS, key=lambda r: (-r["at"].timestamp(), r["id"]))
        if day <= r["at"] < day + timedelta(days=1)
    ]
    text = partitioned.explain(("at", ">=", day), ("at", "<", day + timedelta(days=1)))
    assert f"scan:  {result.scanned[0]}" in text
    if loaded.backend == "pg":
        plan = text.split("\n\n", 1)[1]
        assert result.scanned[0] in plan
        assert not any(name in plan for name in result.pruned), plan


def test_fields_leave_out_the_order_fields_after_the_merge(loaded: Engine) -> None:
    partitioned = loaded.hub.partitioned(loaded.spec(since=FIRST.date().isoformat()))
    result = partitioned.query(order_by=["-at", "-id"], limit=10, offset=3, fields=["id", "name"])
    expected = sorted(ROWS, key=lambda r: (r["at"], r["id"]), reverse=True)[3:13]
    assert [r["id"] for r in result] == [r["id"] for r in expected]
    assert all(set(r) <= {"id", "name", "_id"} and "at" not in r for r in result)
