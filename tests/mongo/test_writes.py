"""``mongo.bulk`` and ``mongo.create_index``, and the server errors they can meet."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

import dbplex
from dbplex import Put
from dbplex.errors import QueryError
from dbplex_mongo import Bulk, BulkDelete, BulkInsert, BulkReplace, BulkRequest, BulkUpdate, CreateIndex, Find

Doc = dict[str, Any]


def test_bulk_applies_every_kind_of_write_in_order(hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str) -> None:
    requests: list[BulkRequest] = [
        BulkInsert({"_id": 1, "n": 1}),
        BulkInsert({"_id": 2, "n": 2}),
        BulkInsert({"_id": 3, "n": 3}),
        BulkUpdate({"_id": 1}, {"$inc": {"n": 10}}),
        BulkUpdate({"n": {"$lt": 5}}, {"$set": {"small": True}}, many=True),
        BulkReplace({"_id": 3}, {"_id": 3, "n": 30}),
        BulkReplace({"_id": 4}, {"_id": 4, "n": 4}, upsert=True),
        BulkDelete({"_id": 2}),
    ]
    result = hub.execute("docs", Bulk(unique_table, requests))
    row = result.one()
    assert (row["inserted"], row["upserted"], row["deleted"]) == (3, 1, 1)
    assert row["matched"] == row["modified"] == 4  # _id 1; _id 2 and 3 (n < 5); _id 3 replaced
    assert row["upserted_ids"] == {6: 4}
    assert result.affected == 3 + 1 + 4 + 1
    assert list(raw_db[unique_table].find(sort={"_id": 1})) == [
        {"_id": 1, "n": 11},
        {"_id": 3, "n": 30},
        {"_id": 4, "n": 4},
    ]


def test_bulk_update_pipelines_and_delete_many(hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str) -> None:
    raw_db[unique_table].insert_many([{"_id": i, "n": i} for i in range(6)])
    requests: list[BulkRequest] = [
        BulkUpdate({}, {"$set": {"flag": 1}}, many=True),
        BulkDelete({"n": {"$gte": 3}}, many=True),
    ]
    row = hub.execute("docs", Bulk(unique_table, requests)).one()
    assert (row["matched"], row["deleted"]) == (6, 3)
    assert raw_db[unique_table].count_documents({"flag": 1}) == 3


def test_an_ordered_bulk_stops_at_the_first_error_and_says_what_it_applied(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    requests = [BulkInsert({"_id": 1}), BulkInsert({"_id": 1}), BulkInsert({"_id": 2})]
    with pytest.raises(QueryError, match=r"request 1 rejected by the server \(code 11000\).*\(1 writes applied\)"):
        hub.execute("docs", Bulk(unique_table, requests))
    assert [d["_id"] for d in raw_db[unique_table].find()] == [1]


def test_an_unordered_bulk_applies_what_it_can(hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str) -> None:
    requests = [BulkInsert({"_id": 1}), BulkInsert({"_id": 1}), BulkInsert({"_id": 2})]
    with pytest.raises(QueryError, match=r"\(2 writes applied\)"):
        hub.execute("docs", Bulk(unique_table, requests, ordered=False))
    assert sorted(d["_id"] for d in raw_db[unique_table].find()) == [1, 2]


def test_create_index_builds_an_index_on_the_keys_in_order(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    result = hub.execute("docs", CreateIndex(unique_table, {"team": 1, "age": -1}, name="by_team_age"))
    # the name pymongo sent; servers may name it differently (nx-27017 names it idx_<coll>_<fields>)
    assert result.one() == {"name": "by_team_age"}
    assert ["team", "age"] in [list(index["key"]) for index in raw_db[unique_table].list_indexes()]


def test_create_index_keeps_each_key_direction(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str, on_nx: bool
) -> None:
    if on_nx:
        pytest.skip("descending index keys: nx-27017 stores every key as ascending (1)")
    hub.execute("docs", CreateIndex(unique_table, {"team": 1, "age": -1}))
    assert {"team": 1, "age": -1} in [dict(index["key"]) for index in raw_db[unique_table].list_indexes()]


def test_a_unique_index_turns_duplicates_into_query_errors(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("docs", CreateIndex(unique_table, {"email": 1}, unique=True))
    hub.execute("docs", Put(unique_table, "u1", {"email": "ada@example.com"}))
    with pytest.raises(
        QueryError, match=rf"source 'docs': put on '{unique_table}': rejected by the server \(code 11000\)"
    ):
        hub.execute("docs", Put(unique_table, "u2", {"email": "ada@example.com"}))
    assert [r["_id"] for r in hub.execute("docs", Find(unique_table))] == ["u1"]
