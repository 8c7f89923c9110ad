"""Ops into plans (which pymongo call, with which arguments), without a server."""

from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo import DeleteMany, InsertOne, ReplaceOne, UpdateOne

from dbplex.ops import Delete, Get, Put, PutMany, Scan, Update
from dbplex_mongo import plans
from dbplex_mongo.ops import (
    OPS,
    Aggregate,
    Bulk,
    BulkDelete,
    BulkInsert,
    BulkUpdate,
    CreateIndex,
    Find,
    GridFSGet,
    GridFSPut,
    Watch,
)
from dbplex_mongo.plans import (
    AggregateDocuments,
    BulkWrite,
    CreateIndexCall,
    DeleteRecord,
    DownloadFile,
    FindDocuments,
    FindRecord,
    FindRecords,
    ReplaceRecord,
    ReplaceRecords,
    UpdateRecord,
    UploadFile,
    WatchChanges,
)


def test_put_many_is_one_unordered_bulk_write_of_upserting_replaces() -> None:
    plan = plans.plan_put_many(PutMany("users", {"u1": {"name": "Ada"}, "u2": {}}))
    assert plan == ReplaceRecords(
        "users",
        [
            ReplaceOne({"_id": "u1"}, {"_id": "u1", "name": "Ada"}, upsert=True),
            ReplaceOne({"_id": "u2"}, {"_id": "u2"}, upsert=True),
        ],
        ordered=False,
    )


def test_get_finds_one_document_by_id() -> None:
    assert plans.plan_get(Get("users", "u1")) == FindRecord("users", {"_id": "u1"}, None, "u1")
    assert plans.plan_get(Get("users", "u1", fields=["a", "b"])) == FindRecord(
        "users", {"_id": "u1"}, {"a": True, "b": True}, "u1"
    )


def test_put_replaces_the_whole_document_with_an_explicit_id() -> None:
    values = {"name": "Ada", "raw": b"\x00", "nested": {"a": [1, 2.5]}}
    assert plans.plan_put(Put("users", "u1", values)) == ReplaceRecord("users", {"_id": "u1"}, {"_id": "u1", **values})


def test_update_sets_the_given_fields_only() -> None:
    assert plans.plan_update(Update("users", "u1", {"n": 2})) == UpdateRecord(
        "users", {"_id": "u1"}, {"$set": {"n": 2}}
    )


def test_delete_removes_one_document_by_id() -> None:
    assert plans.plan_delete(Delete("users", "u1")) == DeleteRecord("users", {"_id": "u1"})


def test_scan_finds_ids_from_the_start_key_in_order() -> None:
    assert plans.plan_scan(Scan("users", "b", limit=3, fields=["a"])) == FindRecords(
        "users", {"_id": {"$gte": "b"}}, {"a": True}, [("_id", 1)], 3
    )


def test_find_passes_query_syntax_through() -> None:
    op = Find("users", {"age": {"$gt": 30}}, projection={"name": 1}, sort={"age": -1}, limit=5, skip=2)
    assert plans.plan_find(op) == FindDocuments(
        "users",
        {"filter": {"age": {"$gt": 30}}, "projection": {"name": 1}, "sort": {"age": -1}, "limit": 5, "skip": 2},
    )


def test_aggregate_passes_the_pipeline_through() -> None:
    pipeline = [{"$match": {"a": 1}}, {"$count": "n"}]
    assert plans.plan_aggregate(Aggregate("users", pipeline)) == AggregateDocuments("users", pipeline)


def test_bulk_becomes_pymongo_write_requests() -> None:
    op = Bulk(
        "users",
        [BulkInsert({"_id": 1}), BulkUpdate({"_id": 1}, {"$set": {"a": 1}}, upsert=True), BulkDelete({}, many=True)],
        ordered=False,
    )
    assert plans.plan_bulk(op) == BulkWrite(
        "users", [InsertOne({"_id": 1}), UpdateOne({"_id": 1}, {"$set": {"a": 1}}, upsert=True), DeleteMany({})], False
    )


def test_create_index_sends_only_the_options_set() -> None:
    assert plans.plan_create_index(CreateIndex("users", {"email": 1}, unique=True)) == CreateIndexCall(
        "users", [("email", 1)], {"unique": True}
    )
    op = CreateIndex("events", {"at": -1, "kind": 1}, name="ttl", expire_after_seconds=60)
    assert plans.plan_create_index(op) == CreateIndexCall(
        "events", [("at", -1), ("kind", 1)], {"name": "ttl", "expireAfterSeconds": 60}
    )


def test_gridfs_put_uploads_to_the_named_or_default_bucket() -> None:
    assert plans.plan_gridfs_put(GridFSPut("a.txt", b"hi", metadata={"m": 1}, chunk_size=4)) == UploadFile(
        None, "a.txt", b"hi", 4, {"m": 1}
    )


def test_gridfs_get_reads_by_id_or_by_name_and_revision() -> None:
    oid = ObjectId()
    assert plans.plan_gridfs_get(GridFSGet(file_id=str(oid), bucket="b")) == DownloadFile("b", oid, None, -1)
    assert plans.plan_gridfs_get(GridFSGet(file_id=42)) == DownloadFile(None, 42, None, -1)
    assert plans.plan_gridfs_get(GridFSGet(filename="a.txt", revision=0)) == DownloadFile(None, None, "a.txt", 0)


def test_watch_caps_each_server_wait_by_max_wait() -> None:
    op = Watch("users", [{"$match": {"operationType": "insert"}}], max_events=5, max_wait=0.1)
    assert plans.plan_watch(op) == WatchChanges(
        "users",
        {
            "pipeline": [{"$match": {"operationType": "insert"}}],
            "full_document": None,
            "resume_after": None,
            "max_await_time_ms": 100,
        },
        5,
        0.1,
    )
    assert plans.plan_watch(Watch(max_wait=5.0)).arguments["max_await_time_ms"] == 250


def test_every_op_of_the_backend_has_a_planner() -> None:
    assert set(plans.PLANNERS) == {Get, Put, PutMany, Update, Delete, Scan, *OPS}


def test_plans_are_immutable() -> None:
    plan = plans.plan_get(Get("users", "u1"))
    with pytest.raises(AttributeError):
        plan.key = "u2"  # type: ignore[misc]
