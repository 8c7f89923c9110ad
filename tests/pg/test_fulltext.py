"""Full-text search through SQLAlchemy: to_tsvector(...).match(...) and @@, backed by a GIN index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, desc, func, insert, select
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql.expression import Executable

import dbplex
from dbplex import Put
from dbplex_pg import SQL, Statement
from dbplex_pg.sqla import record_table, tsvector
from dbplex_pg.translate import compile_statement

ARTICLES = [
    {"id": 1, "title": "Cats", "body": "Cats sleep most of the day and hunt at night."},
    {"id": 2, "title": "Dogs", "body": "A dog enjoys long walks; dogs and cats rarely agree."},
    {"id": 3, "title": "Databases", "body": "PostgreSQL indexes text with GIN for fast searching."},
    {"id": 4, "title": "Hunting", "body": "The hunter hunted, the hunters hunt: one stem."},
]


@pytest.fixture
def articles(hub: dbplex.Hub, unique_table: str) -> Iterator[Table]:
    """A table of articles with a GIN index on the English text search vector of ``body``."""
    table = Table(
        unique_table, MetaData(), Column("id", Integer, primary_key=True), Column("title", Text), Column("body", Text)
    )
    index = Index(f"{unique_table}_fts", tsvector(table.c.body), postgresql_using="gin")
    hub.execute("pg", Statement(CreateTable(table)))
    hub.execute("pg", Statement(CreateIndex(index)))
    hub.execute("pg", Statement(insert(table), ARTICLES))
    yield table
    hub.execute("pg", Statement(DropTable(table)))


def ids(hub: dbplex.Hub, statement: Executable) -> list[int]:
    return [row["id"] for row in hub.execute("pg", Statement(statement))]


def test_match_finds_words_by_their_stem(hub: dbplex.Hub, articles: Table) -> None:
    vector = tsvector(articles.c.body)
    query = select(articles.c.id).where(vector.match("cat", postgresql_regconfig="english")).order_by(articles.c.id)
    assert ids(hub, query) == [1, 2]
    hunting = (
        select(articles.c.id).where(vector.match("hunting", postgresql_regconfig="english")).order_by(articles.c.id)
    )
    assert ids(hub, hunting) == [1, 4]


def test_tsquery_operators_through_the_at_at_operator(hub: dbplex.Hub, articles: Table) -> None:
    vector = tsvector(articles.c.body)
    both = select(articles.c.id).where(vector.op("@@")(func.to_tsquery("english", "cat & dog")))
    assert ids(hub, both) == [2]
    either_not = select(articles.c.id).where(vector.op("@@")(func.to_tsquery("english", "(cat | gin) & !dog")))
    assert sorted(ids(hub, either_not)) == [1, 3]


def test_results_rank_by_relevance(hub: dbplex.Hub, articles: Table) -> None:
    vector = tsvector(articles.c.body)
    query = func.plainto_tsquery("english", "hunt")
    rank = func.ts_rank(vector, query).label("rank")
    ranked = select(articles.c.id, rank).where(vector.op("@@")(query)).order_by(desc("rank"))
    assert ids(hub, ranked) == [4, 1]


def test_the_search_expression_uses_the_gin_index(hub: dbplex.Hub, articles: Table) -> None:
    vector = tsvector(articles.c.body)
    query = select(articles.c.id).where(vector.match("cat", postgresql_regconfig="english"))
    sql_text, params = compile_statement(query)
    assert isinstance(params, dict)
    with hub.transaction("pg") as tx:
        tx.execute(SQL("SET LOCAL enable_seqscan = off"))  # four rows: make the planner show what it could use
        plan = tx.execute(SQL("EXPLAIN " + sql_text, params))
    assert f"{articles.name}_fts" in "\n".join(row["QUERY PLAN"] for row in plan)


def test_record_values_are_searchable_too(hub: dbplex.Hub, unique_table: str) -> None:
    for key, body in (("a", "Cats sleep"), ("b", "Dogs walk"), ("c", "A cat and a dog")):
        hub.execute("pg", Put(unique_table, key, {"body": body}))
    records = record_table(unique_table)
    vector = tsvector(records.c.data["body"].astext)
    query = select(records.c.key).where(vector.match("cat", postgresql_regconfig="english")).order_by(records.c.key)
    assert [row["key"] for row in hub.execute("pg", Statement(query))] == ["a", "c"]
