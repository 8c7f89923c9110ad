"""Translation of ops into SQL and parameters, without a server."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateTable

import dbplex
from dbplex.errors import ConfigError, OpError
from dbplex.testing.conformance import SAMPLE_VALUES
from dbplex_pg.connection import connect_kwargs
from dbplex_pg.sqla import tsvector
from dbplex_pg.translate import affected, compile_statement, decode_record, encode_values, sql_params, table_sql

DOCS = Table(
    "docs",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("title", Text),
    Column("meta", JSONB),
)


def source(**fields: Any) -> dbplex.Source:
    """A configured source; opening a hub connects to nothing until an op runs."""
    with dbplex.open({"sources": {"pg": {"url": "postgresql://app@db.example:5432/app", **fields}}}) as hub:
        return hub.sources["pg"]


# -- record tables -------------------------------------------------------------------------------


def test_table_statements_quote_schema_and_table() -> None:
    statements = table_sql('My "Schema"', "Users")
    assert statements.regclass == '"My ""Schema"""."Users"'
    for statement in statements[1:]:
        assert b'"My ""Schema"""."Users"' in statement
    assert statements.create.decode() == (
        'CREATE TABLE IF NOT EXISTS "My ""Schema"""."Users" (key text COLLATE "C" PRIMARY KEY, data jsonb NOT NULL)'
    )


def test_record_statements_bind_every_value() -> None:
    statements = table_sql("public", "t")
    assert statements.get == b'SELECT data FROM "public"."t" WHERE key = %s'
    assert b"ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data" in statements.put
    assert statements.update == b'UPDATE "public"."t" SET data = data || %s::jsonb WHERE key = %s'
    assert statements.scan == b'SELECT key, data FROM "public"."t" WHERE key >= %s ORDER BY key LIMIT %s'


# -- values --------------------------------------------------------------------------------------


def test_values_round_trip_through_their_json_text() -> None:
    stored = encode_values(SAMPLE_VALUES).encode()
    assert decode_record(memoryview(stored)) == SAMPLE_VALUES


def test_plain_values_stay_plain_json_so_sql_can_query_them() -> None:
    assert json.loads(encode_values({"name": "Ada", "age": 36, "tags": ["x"], "ok": True, "f": 2.5})) == {
        "name": "Ada",
        "age": 36,
        "tags": ["x"],
        "ok": True,
        "f": 2.5,
    }


def test_bytes_and_exponent_floats_are_tagged() -> None:
    assert json.loads(encode_values({"raw": b"\x00\xff", "big": 1e16})) == {
        "raw": {"$bytes": "AP8="},
        "big": {"$float": "1e+16"},
    }


def test_text_that_looks_like_a_tag_stays_text() -> None:
    values = {"s": '{"$bytes": "AP8="}', "nested": {"k": "{$float}"}}
    assert decode_record(encode_values(values).encode()) == values


def test_numbers_beyond_float_range_written_by_sql_still_load() -> None:
    assert decode_record(b'{"n": 1e400}') == {"n": float("inf")}


# -- raw SQL -------------------------------------------------------------------------------------


def test_sql_params_bind_dicts_as_jsonb() -> None:
    named = sql_params({"doc": {"a": 1}, "n": 2})
    assert isinstance(named, dict) and isinstance(named["doc"], Jsonb) and named["n"] == 2
    positional = sql_params([{"a": 1}, [1, 2]])
    assert isinstance(positional, list) and isinstance(positional[0], Jsonb) and positional[1] == [1, 2]
    assert sql_params(None) is None


@pytest.mark.parametrize(
    ("status", "rowcount", "expected"),
    [
        ("INSERT 0 3", 3, 3),
        ("UPDATE 0", 0, 0),
        ("DELETE 2", 2, 2),
        ("MERGE 1", 1, 1),
        ("SELECT 5", 5, None),
        ("CREATE TABLE", -1, None),
        (None, -1, None),
    ],
)
def test_affected_counts_rows_of_data_changes_only(status: str | None, rowcount: int, expected: int | None) -> None:
    assert affected(status, rowcount) == expected


# -- SQLAlchemy statements -----------------------------------------------------------------------


def test_select_compiles_to_named_psycopg_parameters() -> None:
    query, params = compile_statement(select(DOCS.c.id).where(DOCS.c.title == "a"))
    assert "%(title_1)s" in query and params == {"title_1": "a"}


def test_in_lists_expand_per_execution() -> None:
    by_ids = select(DOCS).where(DOCS.c.id.in_(bindparam("ids", expanding=True)))
    two, params2 = compile_statement(by_ids, {"ids": [1, 2]})
    three, params3 = compile_statement(by_ids, {"ids": [1, 2, 3]})
    assert two != three
    assert sorted(params2.values()) == [1, 2] and sorted(params3.values()) == [1, 2, 3]  # type: ignore[union-attr]


def test_bindparams_are_filled_from_params_each_time() -> None:
    by_id = select(DOCS).where(DOCS.c.id == bindparam("ident"))
    first = compile_statement(by_id, {"ident": 1})
    second = compile_statement(by_id, {"ident": 2})
    assert first[0] == second[0]
    assert first[1] == {"ident": 1} and second[1] == {"ident": 2}


def test_type_conversions_apply_to_parameters() -> None:
    _, params = compile_statement(insert(DOCS).values(id=1, meta={"a": 1}))
    assert isinstance(params, dict) and isinstance(params["meta"], Jsonb)


def test_text_keeps_percent_signs_for_psycopg_to_read() -> None:
    query, params = compile_statement(text("select '50%' as p, :n as n"), {"n": 1})
    assert query == "select '50%%' as p, %(n)s as n" and params == {"n": 1}


def test_ddl_compiles_without_parameters() -> None:
    query, params = compile_statement(CreateTable(DOCS))
    assert query.strip().startswith("CREATE TABLE docs") and params == {}


def test_a_list_of_parameter_sets_runs_one_statement_many_times() -> None:
    query, params = compile_statement(insert(DOCS), [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}])
    assert query.startswith("INSERT INTO docs") and params == [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]


def test_parameter_sets_that_expand_differently_are_refused() -> None:
    by_ids = select(DOCS).where(DOCS.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(OpError, match="different SQL"):
        compile_statement(by_ids, [{"ids": [1]}, {"ids": [1, 2]}])


@pytest.mark.parametrize(
    "statement",
    [update(DOCS).values(title="x"), delete(DOCS).where(DOCS.c.id == 1)],
    ids=["update", "delete"],
)
def test_data_changes_compile(statement: Any) -> None:
    query, _ = compile_statement(statement)
    assert query.split()[0] in {"UPDATE", "DELETE"}


def test_a_missing_parameter_is_an_op_error() -> None:
    with pytest.raises(OpError, match="value is required for bind parameter 'ident'") as caught:
        compile_statement(select(DOCS).where(DOCS.c.id == bindparam("ident")))
    assert "sqlalche.me" not in str(caught.value)


def test_only_statements_compile() -> None:
    with pytest.raises(OpError, match="SQLAlchemy Core statement .* not str"):
        compile_statement("select 1")  # type: ignore[arg-type]


def test_tsvector_writes_its_configuration_into_the_sql() -> None:
    query, params = compile_statement(select(DOCS.c.id).where(tsvector(DOCS.c.title).match("cats")))
    assert "to_tsvector('english', docs.title) @@" in query and list(params.values()) == ["cats"]  # type: ignore[union-attr]
    assert "to_tsvector('it''s', docs.title)" in compile_statement(select(tsvector(DOCS.c.title, "it's")))[0]


# -- options and connection arguments -----------------------------------------------------------


def test_connections_run_in_autocommit_with_the_options() -> None:
    kwargs = connect_kwargs(source(options={"application_name": "billing"}))
    assert kwargs == {
        "autocommit": True,
        "prepare_threshold": 5,
        "connect_timeout": 5,
        "options": "-c statement_timeout=30000",
        "application_name": "billing",
    }
    assert connect_kwargs(source(options={"prepared_statements": False}))["prepare_threshold"] is None


def test_the_operation_timeout_goes_before_the_urls_own_options() -> None:
    configured = source(url="postgresql://app@db.example/app?options=-csearch_path%3Dx", operation_timeout=2.5)
    assert connect_kwargs(configured)["options"] == "-c statement_timeout=2500 -csearch_path=x"


def test_application_name_in_the_url_wins() -> None:
    configured = source(url="postgresql://app@db.example/app?application_name=mine")
    assert "application_name" not in connect_kwargs(configured)


@pytest.mark.parametrize(("seconds", "expected"), [(0.5, 2), (2.5, 2), (7, 7)])
def test_connect_timeout_counts_whole_seconds_of_at_least_two(seconds: float, expected: int) -> None:
    assert connect_kwargs(source(connect_timeout=seconds))["connect_timeout"] == expected


def test_unknown_options_are_refused_with_their_path() -> None:
    with pytest.raises(ConfigError, match=r"source .pg.: .*unknown field `schemaa`"):
        dbplex.open({"sources": {"pg": {"url": "postgresql://db.example/app", "options": {"schemaa": "x"}}}})


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="prepared_statements"):
        dbplex.open(
            {"sources": {"pg": {"url": "postgresql://db.example/app", "options": {"prepared_statements": "no"}}}}
        )
    assert msgspec.structs.asdict(source().options) == {
        "schema": "public",
        "application_name": "dbplex",
        "prepared_statements": True,
    }
