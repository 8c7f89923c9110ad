"""Translation of ops into pymongo arguments and of driver answers into rows: no server needed."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.results import BulkWriteResult

from dbplex.backends import Source
from dbplex.config import PoolConfig, SourceConfig
from dbplex_mongo import translate as tr
from dbplex_mongo.answers import found_record
from dbplex_mongo.client import client_options
from dbplex_mongo.ops import BulkDelete, BulkInsert, BulkReplace, BulkUpdate, CreateIndex, Find, Watch
from dbplex_mongo.plans import FindRecord
from dbplex_mongo.server import server_info


def test_records_are_documents_keyed_by_id() -> None:
    values = {"name": "Ada", "raw": b"\x00", "nested": {"a": [1, 2.5]}}
    assert tr.key_filter("k1") == {"_id": "k1"}
    assert tr.document("k1", values) == {"_id": "k1", **values}
    assert tr.set_fields({"a": 1}) == {"$set": {"a": 1}}
    assert tr.scan_filter("b") == {"_id": {"$gte": "b"}}


def test_the_whole_document_is_the_record_minus_its_id() -> None:
    found = FindRecord("t", {"_id": "k"}, None, "k")
    assert found_record(found, {"_id": "k", "a": 1}).rows == [{"key": "k", "values": {"a": 1}}]
    assert found_record(found, None).rows == []
    assert tr.scan_row({"_id": "k2", "b": None}) == {"key": "k2", "values": {"b": None}}


def test_projection_selects_only_names_a_record_can_hold() -> None:
    assert tr.projection(None) is None
    assert tr.projection(["a", "b"]) == {"a": True, "b": True}
    # paths, operators and _id would mean something else to MongoDB; no record has such fields
    assert tr.projection(["a", "x.y", "$where", "_id", ""]) == {"a": True}
    # nothing selectable: ask for the key alone (an empty projection would return everything)
    assert tr.projection([]) == {"_id": True}
    assert tr.projection(["x.y"]) == {"_id": True}


def test_find_args_pass_query_syntax_through() -> None:
    op = Find("users", {"age": {"$gte": 18}}, projection={"name": 1}, sort={"age": -1}, limit=5, skip=10)
    assert tr.find_args(op) == {
        "filter": {"age": {"$gte": 18}},
        "projection": {"name": 1},
        "sort": {"age": -1},
        "limit": 5,
        "skip": 10,
    }
    assert tr.find_args(Find("users")) == {"filter": {}, "projection": None, "sort": None, "limit": 0, "skip": 0}


def test_bulk_requests_become_pymongo_write_models() -> None:
    models = tr.write_models(
        [
            BulkInsert({"_id": 1}),
            BulkReplace({"_id": 2}, {"a": 2}, upsert=True),
            BulkUpdate({"a": 1}, {"$set": {"b": 1}}),
            BulkUpdate({}, [{"$set": {"c": 1}}], many=True, upsert=False),
            BulkDelete({"_id": 3}),
            BulkDelete({"a": {"$lt": 0}}, many=True),
        ]
    )
    assert models == [
        InsertOne({"_id": 1}),
        ReplaceOne({"_id": 2}, {"a": 2}, upsert=True),
        UpdateOne({"a": 1}, {"$set": {"b": 1}}, upsert=False),
        UpdateMany({}, [{"$set": {"c": 1}}], upsert=False),
        DeleteOne({"_id": 3}),
        DeleteMany({"a": {"$lt": 0}}),
    ]


def test_bulk_row_counts_what_changed() -> None:
    reply: dict[str, Any] = {
        "nInserted": 2,
        "nUpserted": 1,
        "nMatched": 3,
        "nModified": 2,
        "nRemoved": 1,
        "upserted": [{"index": 4, "_id": "new"}],
        "writeErrors": [],
        "writeConcernErrors": [],
    }
    row, affected = tr.bulk_row(BulkWriteResult(reply, acknowledged=True))
    assert row == {"inserted": 2, "matched": 3, "modified": 2, "deleted": 1, "upserted": 1, "upserted_ids": {4: "new"}}
    assert affected == 2 + 1 + 3 + 1


def test_index_args_send_only_the_options_given() -> None:
    assert tr.index_args(CreateIndex("c", {"email": 1})) == ([("email", 1)], {})
    keys, options = tr.index_args(
        CreateIndex(
            "c",
            {"tenant": 1, "at": -1},
            name="by_tenant",
            unique=True,
            sparse=True,
            expire_after_seconds=0,
            partial_filter={"at": {"$exists": True}},
        )
    )
    assert keys == [("tenant", 1), ("at", -1)]
    assert options == {
        "name": "by_tenant",
        "unique": True,
        "sparse": True,
        "expireAfterSeconds": 0,
        "partialFilterExpression": {"at": {"$exists": True}},
    }


def test_file_ids_from_json_become_object_ids() -> None:
    oid = ObjectId()
    assert tr.file_id(str(oid)) == oid
    assert tr.file_id(oid) is oid
    assert tr.file_id("report-2024") == "report-2024"
    assert tr.file_id(7) == 7


def test_watch_polls_in_short_waits_so_max_wait_holds() -> None:
    args = tr.watch_args(Watch("c", max_wait=30))
    assert args == {"pipeline": [], "full_document": None, "resume_after": None, "max_await_time_ms": tr.WATCH_POLL_MS}
    assert tr.watch_args(Watch(max_wait=0.05))["max_await_time_ms"] == 50
    token = {"_data": "8263"}
    args = tr.watch_args(
        Watch("c", [{"$match": {"operationType": "insert"}}], full_document="updateLookup", resume_after=token)
    )
    assert args["pipeline"] == [{"$match": {"operationType": "insert"}}]
    assert (args["full_document"], args["resume_after"]) == ("updateLookup", token)


@pytest.mark.parametrize(
    ("hello", "build_info", "topology", "product"),
    [
        ({"isWritablePrimary": True}, {"version": "7.0.4"}, "standalone", "mongod"),
        ({"setName": "rs0", "isWritablePrimary": True}, {"version": "7.0.4"}, "replica_set", "mongod"),
        ({"msg": "isdbgrid"}, {"version": "7.0.4"}, "sharded", "mongos"),
        ({"isWritablePrimary": True}, {"version": "7.0.0", "process": "nx_27017"}, "standalone", "nx_27017"),
    ],
)
def test_server_topology_comes_from_hello(
    hello: dict[str, Any], build_info: dict[str, Any], topology: str, product: str
) -> None:
    info = server_info(hello, build_info, "h:1")
    assert (info.topology, info.product) == (topology, product)
    assert info.replicated is (topology != "standalone")
    assert info.label == f"{product} {build_info['version']} at h:1"


def test_server_version_falls_back_to_the_wire_version() -> None:
    assert server_info({"maxWireVersion": 21}, {}, "h:1").version == "wire version 21"


def test_pool_settings_become_client_options() -> None:
    pool = PoolConfig(min_size=2, max_size=7, timeout=0.5, max_idle=60)
    config = SourceConfig(url="mongodb://h/db", connect_timeout=2.5, pool=pool)
    assert client_options(Source(name="docs", backend="mongo", config=config)) == {
        "socketTimeoutMS": 30_000,
        "maxPoolSize": 7,
        "minPoolSize": 2,
        "waitQueueTimeoutMS": 500,
        "maxIdleTimeMS": 60_000,
        "connectTimeoutMS": 2500,
        "serverSelectionTimeoutMS": 2500,
    }
