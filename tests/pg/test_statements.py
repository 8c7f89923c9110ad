"""SQLAlchemy Core statements and raw SQL through dbplex, on a real table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateTable, DropTable

import dbplex
from dbplex.errors import OpError, QueryError
from dbplex.ops import decode
from dbplex_pg import SQL, Statement


@pytest.fixture
def docs(hub: dbplex.Hub, unique_table: str) -> Iterator[Table]:
    """A table of documents of this test's own, created and dropped through Statement."""
    table = Table(
        unique_table,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("title", Text, nullable=False),
        Column("meta", JSONB),
        Column("created", DateTime(timezone=True), server_default=func.now()),
    )
    hub.execute("pg", Statement(CreateTable(table)))
    yield table
    hub.execute("pg", Statement(DropTable(table, if_exists=True)))


def run(hub: dbplex.Hub, statement: Any, params: Any = None) -> dbplex.Result:
    return hub.execute("pg", Statement(statement, params))


def titles(hub: dbplex.Hub, docs: Table) -> list[str]:
    return [row["title"] for row in run(hub, select(docs.c.title).order_by(docs.c.id))]


# -- SQLAlchemy Core -----------------------------------------------------------------------------


def test_insert_then_select_round_trips_rows_by_column_name(hub: dbplex.Hub, docs: Table) -> None:
    assert run(hub, insert(docs).values(id=1, title="first", meta={"tags": ["a", "b"], "n": 1})).affected == 1
    result = run(hub, select(docs.c.id, docs.c.title, docs.c.meta).where(docs.c.id == 1))
    assert result.rows == [{"id": 1, "title": "first", "meta": {"tags": ["a", "b"], "n": 1}}]
    assert result.affected is None


def test_insert_many_parameter_sets_counts_every_row(hub: dbplex.Hub, docs: Table) -> None:
    rows = [{"id": i, "title": f"t{i}"} for i in range(1, 4)]
    assert run(hub, insert(docs), rows).affected == 3
    assert titles(hub, docs) == ["t1", "t2", "t3"]


def test_insert_returning_gives_rows_and_a_count(hub: dbplex.Hub, docs: Table) -> None:
    result = run(hub, insert(docs).values(id=7, title="x").returning(docs.c.id, docs.c.created))
    (row,) = result.rows
    assert row["id"] == 7 and row["created"] is not None and result.affected == 1


def test_update_and_delete_report_affected_rows(hub: dbplex.Hub, docs: Table) -> None:
    run(hub, insert(docs), [{"id": i, "title": f"t{i}"} for i in range(1, 5)])
    assert run(hub, update(docs).where(docs.c.id > 2).values(title="late")).affected == 2
    assert run(hub, delete(docs).where(docs.c.id == 1)).affected == 1
    assert run(hub, delete(docs).where(docs.c.id == 1)).affected == 0
    assert titles(hub, docs) == ["t2", "late", "late"]


def test_a_statement_built_once_runs_with_new_parameters(hub: dbplex.Hub, docs: Table) -> None:
    run(hub, insert(docs), [{"id": i, "title": f"t{i}"} for i in range(1, 4)])
    by_id = select(docs.c.title).where(docs.c.id == bindparam("ident"))
    assert [run(hub, by_id, {"ident": i}).scalar() for i in (3, 1, 2)] == ["t3", "t1", "t2"]


def test_in_lists_of_any_length(hub: dbplex.Hub, docs: Table) -> None:
    run(hub, insert(docs), [{"id": i, "title": f"t{i}"} for i in range(1, 6)])
    by_ids = select(docs.c.id).where(docs.c.id.in_(bindparam("ids", expanding=True))).order_by(docs.c.id)
    assert [r["id"] for r in run(hub, by_ids, {"ids": [5, 1]})] == [1, 5]
    assert [r["id"] for r in run(hub, by_ids, {"ids": [2, 3, 4]})] == [2, 3, 4]


def test_jsonb_columns_are_queryable(hub: dbplex.Hub, docs: Table) -> None:
    run(
        hub,
        insert(docs),
        [{"id": 1, "title": "a", "meta": {"lang": "en"}}, {"id": 2, "title": "b", "meta": {"lang": "fr"}}],
    )
    french = run(hub, select(docs.c.id).where(docs.c.meta["lang"].astext == "fr"))
    assert french.rows == [{"id": 2}]


def test_text_statements_bind_parameters_and_keep_percent_signs(hub: dbplex.Hub, docs: Table) -> None:
    run(hub, insert(docs), [{"id": 1, "title": "50% off"}, {"id": 2, "title": "full price"}])
    query = text(f"SELECT id, '100%' AS share FROM {docs.name} WHERE title LIKE :pattern")
    assert run(hub, query, {"pattern": "%off"}).rows == [{"id": 1, "share": "100%"}]


def test_rows_convert_to_typed_structs(hub: dbplex.Hub, docs: Table) -> None:
    class Doc(msgspec.Struct):
        id: int
        title: str

    run(hub, insert(docs).values(id=1, title="typed"))
    assert run(hub, select(docs.c.id, docs.c.title)).as_(Doc) == [Doc(id=1, title="typed")]


def test_a_server_error_is_a_query_error_with_the_servers_message(hub: dbplex.Hub, docs: Table) -> None:
    run(hub, insert(docs).values(id=1, title="a"))
    with pytest.raises(
        QueryError, match=r"source 'pg': duplicate key value violates unique constraint .*23505.*already exists"
    ):
        run(hub, insert(docs).values(id=1, title="again"))


def test_something_that_is_not_a_statement_is_an_op_error(hub: dbplex.Hub) -> None:
    with pytest.raises(OpError, match="SQLAlchemy Core statement"):
        hub.execute("pg", Statement("select 1"))  # type: ignore[arg-type]


# -- raw SQL -------------------------------------------------------------------------------------


def test_sql_without_parameters_goes_to_the_server_as_written(hub: dbplex.Hub) -> None:
    assert hub.execute("pg", SQL("select 1 as x, '50%' as p")).rows == [{"x": 1, "p": "50%"}]


def test_sql_binds_positional_and_named_parameters(hub: dbplex.Hub) -> None:
    assert hub.execute("pg", SQL("select %s::int + %s::int as n", [2, 3])).scalar() == 5
    named = hub.execute("pg", SQL("select %(doc)s->>'a' as a, pg_typeof(%(doc)s)::text as t", {"doc": {"a": "x"}}))
    assert named.rows == [{"a": "x", "t": "jsonb"}]


def test_sql_counts_affected_rows_of_data_changes(hub: dbplex.Hub, docs: Table) -> None:
    inserted = hub.execute("pg", SQL(f"insert into {docs.name} (id, title) values (1, 'a'), (2, 'b')"))
    assert inserted.rows == [] and inserted.affected == 2
    assert hub.execute("pg", SQL(f"select * from {docs.name}")).affected is None


def test_several_statements_answer_with_the_last(hub: dbplex.Hub) -> None:
    assert hub.execute("pg", SQL("select 1 as a; select 2 as b")).rows == [{"b": 2}]


def test_the_sql_op_decodes_from_json(hub: dbplex.Hub) -> None:
    op = decode('{"op": "pg.sql", "text": "select %(n)s::int * 2 as x", "params": {"n": 21}}', hub.backend("pg").ops)
    assert op == SQL("select %(n)s::int * 2 as x", {"n": 21})
    assert hub.execute("pg", op).rows == [{"x": 42}]


def test_sql_errors_name_the_source_and_keep_the_servers_words(hub: dbplex.Hub) -> None:
    with pytest.raises(
        QueryError, match=r'source \'pg\': relation "no_such_table_x" does not exist \(SQLSTATE 42P01\)'
    ):
        hub.execute("pg", SQL("select * from no_such_table_x"))
    with pytest.raises(QueryError, match="syntax error"):
        hub.execute("pg", SQL("selec 1"))


def test_parameters_that_do_not_fit_are_refused_before_sending(hub: dbplex.Hub) -> None:
    with pytest.raises(OpError, match="2 placeholders but 1 parameters"):
        hub.execute("pg", SQL("select %s, %s", [1]))
