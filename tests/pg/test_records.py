"""Records as JSONB rows: what SQL sees of them, where they live, and how their tables appear."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from sqlalchemy import Integer, select

import dbplex
from dbplex import Delete, Get, Put, Scan, Update
from dbplex.errors import OpError, QueryError
from dbplex_pg import SQL, Statement, plans
from dbplex_pg.execute import execute
from dbplex_pg.sqla import record_table
from dbplex_pg.translate import table_sql

ADA = {"name": "Ada", "born": 1815, "address": {"city": "London"}, "langs": ["en", "fr"], "raw": b"\x01", "big": 1e20}


def test_stored_values_are_queryable_jsonb(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "ada", ADA))
    hub.execute("pg", Put(unique_table, "alan", {"name": "Alan", "born": 1912, "address": {"city": "Wilmslow"}}))
    row = hub.execute(
        "pg",
        SQL(
            f"SELECT key, data->>'name' AS name, data->'address'->>'city' AS city FROM {unique_table} "
            "WHERE (data->>'born')::int < %s AND data->'langs' ? 'fr'",
            [1900],
        ),
    ).one()
    assert row == {"key": "ada", "name": "Ada", "city": "London"}


def test_sql_sees_bytes_and_exponent_floats_as_tagged_objects(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "ada", ADA))
    data = hub.execute("pg", SQL(f"SELECT data FROM {unique_table}")).scalar()
    assert data["raw"] == {"$bytes": "AQ=="} and data["big"] == {"$float": "1e+20"} and data["born"] == 1815


def test_sqlalchemy_queries_records_through_record_table(hub: dbplex.Hub, unique_table: str) -> None:
    for key, born in (("a", 1815), ("b", 1912), ("c", 1906)):
        hub.execute("pg", Put(unique_table, key, {"born": born}))
    records = record_table(unique_table)
    query = select(records.c.key).where(records.c.data["born"].astext.cast(Integer) > 1900).order_by(records.c.key)
    assert [r["key"] for r in hub.execute("pg", Statement(query))] == ["b", "c"]


def test_update_merges_fields_into_the_stored_document(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "k", {"a": 1, "nested": {"x": 1}}))
    hub.execute("pg", Update(unique_table, "k", {"nested": {"y": 2}, "b": b"\x00"}))
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"a": 1, "nested": {"y": 2}, "b": b"\x00"}


def test_the_schema_option_places_record_tables(
    make_hub: Any, unique_schema: str, unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub = make_hub(options={"schema": unique_schema})
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    found = raw.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = %s", [unique_table]
    ).fetchall()
    assert found == [(unique_schema,)]
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"n": 1}


def test_a_missing_schema_reads_as_empty_and_refuses_writes(make_hub: Any, unique_table: str) -> None:
    hub = make_hub(options={"schema": "no_such_schema_dbplex"})
    assert hub.execute("pg", Get(unique_table, "k")).rows == []
    assert hub.execute("pg", Delete(unique_table, "k")).affected == 0
    with pytest.raises(QueryError, match='schema "no_such_schema_dbplex" does not exist'):
        hub.execute("pg", Put(unique_table, "k", {"n": 1}))


def test_many_first_writers_to_a_new_table_all_succeed(make_hub: Any, unique_table: str) -> None:
    hub = make_hub(pool={"min_size": 8, "max_size": 8})
    with ThreadPoolExecutor(8) as executor:
        results = list(executor.map(lambda i: hub.execute("pg", Put(unique_table, f"k{i}", {"i": i})), range(8)))
    assert [r.affected for r in results] == [1] * 8
    assert len(hub.execute("pg", Scan(unique_table, "", 100))) == 8


def test_a_table_dropped_behind_dbplex_reads_empty_and_is_created_again(
    hub: dbplex.Hub, unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    raw.execute(f"DROP TABLE {unique_table}")
    assert hub.execute("pg", Get(unique_table, "k")).rows == []
    hub.execute("pg", Put(unique_table, "k", {"n": 2}))
    raw.execute(f"DROP TABLE {unique_table}")
    assert hub.execute("pg", Put(unique_table, "k", {"n": 3})).affected == 1
    assert hub.execute("pg", Get(unique_table, "k")).one()["values"] == {"n": 3}


def test_reads_of_a_missing_table_create_nothing(
    hub: dbplex.Hub, unique_table: str, raw: psycopg.Connection[Any]
) -> None:
    assert hub.execute("pg", Get(unique_table, "k")).rows == []
    assert hub.execute("pg", Update(unique_table, "k", {"a": 1})).affected == 0
    assert raw.execute("SELECT to_regclass(%s)", [unique_table]).fetchone() == (None,)


def test_a_scan_start_with_nul_is_refused(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "k", {"n": 1}))
    with pytest.raises(OpError, match="NUL"):
        hub.execute("pg", Scan(unique_table, "a\x00", 5))


def test_the_executor_runs_a_plan_as_planned_on_a_checked_out_connection(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("pg", Put(unique_table, "k1", {"a": 1}))
    with hub.connection("pg") as conn:
        statements = table_sql("public", unique_table, conn)
        updated = execute(conn, plans.plan_update(Update(unique_table, "k1", {"b": 2}), statements))
        found = execute(conn, plans.plan_get(Get(unique_table, "k1"), statements))
        counted = execute(conn, plans.plan_sql(SQL(f"SELECT count(*) AS n FROM {unique_table}")))
    assert updated.affected == 1
    assert found.rows == [{"key": "k1", "values": {"a": 1, "b": 2}}]
    assert counted.rows == [{"n": 1}]
