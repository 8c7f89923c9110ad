"""``mongo.find`` and ``mongo.aggregate``: MongoDB query syntax in, documents out."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

import dbplex
from dbplex.errors import QueryError
from dbplex_mongo import Aggregate, Find

Doc = dict[str, Any]


@pytest.fixture
def people(raw_db: Database[Doc], unique_table: str) -> str:
    raw_db[unique_table].insert_many(
        [
            {"_id": 1, "name": "Ada", "team": "owls", "age": 36},
            {"_id": 2, "name": "Bo", "team": "larks", "age": 25},
            {"_id": 3, "name": "Cy", "team": "owls", "age": 41},
            {"_id": 4, "name": "Di", "team": "larks", "age": 19},
            {"_id": 5, "name": "Ed", "team": "owls", "age": 25},
        ]
    )
    return unique_table


def test_find_filters_projects_sorts_skips_and_limits(hub: dbplex.Hub, people: str) -> None:
    op = Find(
        people, {"age": {"$gte": 20}}, projection={"_id": 0, "name": 1}, sort={"age": -1, "name": 1}, skip=1, limit=2
    )
    assert hub.execute("docs", op).rows == [{"name": "Ada"}, {"name": "Bo"}]


def test_find_without_arguments_returns_every_document(hub: dbplex.Hub, people: str) -> None:
    rows = hub.execute("docs", Find(people, sort={"_id": 1})).rows
    assert [r["_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == {"_id": 1, "name": "Ada", "team": "owls", "age": 36}


def test_find_of_a_missing_collection_is_empty(hub: dbplex.Hub, unique_table: str) -> None:
    assert hub.execute("docs", Find(unique_table, {"a": 1})).rows == []


def test_aggregate_groups_and_sorts_on_the_server(hub: dbplex.Hub, people: str) -> None:
    pipeline: list[Doc] = [
        {"$match": {"age": {"$gte": 20}}},
        {"$group": {"_id": "$team", "members": {"$sum": 1}, "total_age": {"$sum": "$age"}}},
        {"$sort": {"_id": 1}},
    ]
    assert hub.execute("docs", Aggregate(people, pipeline)).rows == [
        {"_id": "larks", "members": 1, "total_age": 25},
        {"_id": "owls", "members": 3, "total_age": 102},
    ]


def test_aggregate_projects_and_limits(hub: dbplex.Hub, people: str) -> None:
    pipeline: list[Doc] = [
        {"$match": {"team": "owls"}},
        {"$sort": {"age": 1}},
        {"$limit": 2},
        {"$project": {"_id": 0, "name": 1}},
    ]
    assert hub.execute("docs", Aggregate(people, pipeline)).rows == [{"name": "Ed"}, {"name": "Ada"}]


def test_a_pipeline_the_server_rejects_is_a_query_error_naming_the_op(hub: dbplex.Hub, people: str) -> None:
    with pytest.raises(QueryError, match=rf"source 'docs': mongo\.aggregate on '{people}': rejected by the server"):
        hub.execute("docs", Aggregate(people, [{"$nosuchstage": {}}]))
