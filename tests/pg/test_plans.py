"""Ops into plans (statement, parameters, answer shape), without a server."""

from __future__ import annotations

import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, insert, select

from dbplex.ops import Delete, Get, Put, PutMany, Scan, Update
from dbplex_pg import plans
from dbplex_pg.ops import SQL, Statement
from dbplex_pg.plans import FetchRecord, FetchRecords, RunSQL, WriteRecord
from dbplex_pg.translate import table_sql

T = table_sql("app", "users")
USERS = Table("users", MetaData(), Column("id", Integer, primary_key=True), Column("name", Text))


def test_get_selects_the_data_of_one_key() -> None:
    assert plans.plan_get(Get("users", "u1"), T) == FetchRecord(
        "users", b'SELECT data FROM "app"."users" WHERE key = %s', ("u1",), "u1"
    )
    assert plans.plan_get(Get("users", "u1", fields=["a"]), T).fields == ["a"]


def test_put_upserts_the_whole_record_as_jsonb_text_and_creates_a_missing_table() -> None:
    assert plans.plan_put(Put("users", "u1", {"name": "Ada", "raw": b"\x00"}), T) == WriteRecord(
        "users",
        b'INSERT INTO "app"."users" (key, data) VALUES (%s, %s::jsonb) '
        b"ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data",
        ("u1", '{"name":"Ada","raw":{"$bytes":"AA=="}}'),
        create=True,
    )


def test_put_many_upserts_every_record_in_one_statement_of_two_arrays() -> None:
    plan = plans.plan_put_many(PutMany("users", {"u1": {"name": "Ada"}, "u2": {"raw": b"\x00"}}), T)
    assert plan == WriteRecord(
        "users",
        b'INSERT INTO "app"."users" (key, data) SELECT k, d::jsonb FROM unnest(%s::text[], %s::text[]) AS r(k, d) '
        b"ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data",
        (["u1", "u2"], ['{"name":"Ada"}', '{"raw":{"$bytes":"AA=="}}']),
        create=True,
    )


def test_update_merges_fields_into_an_existing_record_only() -> None:
    assert plans.plan_update(Update("users", "u1", {"n": 2}), T) == WriteRecord(
        "users", b'UPDATE "app"."users" SET data = data || %s::jsonb WHERE key = %s', ('{"n":2}', "u1"), create=False
    )


def test_delete_removes_one_key_and_never_creates_the_table() -> None:
    assert plans.plan_delete(Delete("users", "u1"), T) == WriteRecord(
        "users", b'DELETE FROM "app"."users" WHERE key = %s', ("u1",), create=False
    )


def test_scan_reads_keys_in_order_from_the_start_key() -> None:
    assert plans.plan_scan(Scan("users", "b", limit=3, fields=["a"]), T) == FetchRecords(
        "users", b'SELECT key, data FROM "app"."users" WHERE key >= %s ORDER BY key LIMIT %s', ("b", 3), ["a"]
    )


def test_each_uniform_op_has_a_record_planner() -> None:
    assert set(plans.RECORD_PLANNERS) == {Get, Put, PutMany, Update, Delete, Scan}
    assert set(plans.QUERY_PLANNERS) == {SQL, Statement}


def test_sql_passes_text_through_and_binds_dicts_as_jsonb() -> None:
    assert plans.plan_sql(SQL("select 1 as x")) == RunSQL("select 1 as x", None)
    plan = plans.plan_sql(SQL("select %(a)s, %(d)s", {"a": 1, "d": {"k": [1]}}))
    assert plan.text == "select %(a)s, %(d)s" and not plan.many
    assert isinstance(plan.params, dict) and plan.params["a"] == 1
    assert isinstance(plan.params["d"], Jsonb) and plan.params["d"].obj == {"k": [1]}
    listed = plans.plan_sql(SQL("select %s", [{"k": 1}]))
    assert isinstance(listed.params, list) and isinstance(listed.params[0], Jsonb) and not listed.many


def test_statement_compiles_to_named_parameters() -> None:
    by_id = select(USERS.c.name).where(USERS.c.id == bindparam("id"))
    assert plans.plan_statement(Statement(by_id, {"id": 7})) == RunSQL(
        "SELECT users.name \nFROM users \nWHERE users.id = %(id)s::INTEGER", {"id": 7}
    )


def test_statement_with_a_list_of_parameter_sets_runs_as_executemany() -> None:
    plan = plans.plan_statement(Statement(insert(USERS), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]))
    assert plan == RunSQL(
        "INSERT INTO users (id, name) VALUES (%(id)s::INTEGER, %(name)s::VARCHAR)",
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        many=True,
    )


@pytest.mark.parametrize("op", [Get("t", "k"), Put("t", "k", {"a": 1}), Scan("t")])
def test_plans_are_plain_immutable_data(op: Get | Put | Scan) -> None:
    plan = plans.RECORD_PLANNERS[type(op)](op, table_sql("public", "t"))
    with pytest.raises(AttributeError):
        plan.table = "other"  # type: ignore[misc]
    assert plan.table == "t" and isinstance(plan.sql, bytes)
