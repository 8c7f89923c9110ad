"""The record layout: a database, a collection per table, ``_id`` as key, native BSON values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from bson import Int64
from pymongo.database import Database

import dbplex
from dbplex import Get, Put, Scan, Update
from dbplex.errors import OpError
from dbplex.testing.conformance import SAMPLE_VALUES
from dbplex_mongo import Bulk, BulkInsert, plans
from dbplex_mongo.conn import resolve
from dbplex_mongo.execute import execute

Doc = dict[str, Any]


def test_records_are_plain_documents_other_tools_can_read(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    hub.execute("docs", Put(unique_table, "k1", SAMPLE_VALUES))
    stored = raw_db[unique_table].find_one({"_id": "k1"})
    assert stored == {"_id": "k1", **SAMPLE_VALUES}
    assert type(stored["raw"]) is bytes and type(stored["dict"]["e"]) is bytes
    assert type(stored["dict"]) is dict and type(stored["list"]) is list


def test_documents_written_by_other_tools_read_as_records(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    raw_db[unique_table].insert_many([{"_id": "b", "n": Int64(2**40), "tags": ["x"]}, {"_id": "a", "n": 1}])
    assert hub.execute("docs", Get(unique_table, "b")).one() == {"key": "b", "values": {"n": 2**40, "tags": ["x"]}}
    assert [r["key"] for r in hub.execute("docs", Scan(unique_table, "", 10))] == ["a", "b"]


def test_int64_reads_as_int_in_ops_and_as_pymongo_decodes_it_on_the_native_database(
    hub: dbplex.Hub, unique_table: str
) -> None:
    hub.execute("docs", Put(unique_table, "k", {"n": 2**40, "nested": {"n": [2**40]}}))
    values = hub.execute("docs", Get(unique_table, "k")).one()["values"]
    assert type(values["n"]) is int and type(values["nested"]["n"][0]) is int
    with hub.connection("docs") as db:
        assert type((db[unique_table].find_one({"_id": "k"}) or {})["n"]) is Int64


def test_scan_skips_documents_whose_id_is_not_a_string(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    raw_db[unique_table].insert_many([{"_id": 5, "a": 1}, {"a": 2}, {"_id": "k", "a": 3}])
    assert hub.execute("docs", Scan(unique_table, "", 10)).rows == [{"key": "k", "values": {"a": 3}}]


def test_update_with_nothing_to_set_still_reports_whether_the_record_exists(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("docs", Put(unique_table, "k", {"a": 1}))
    assert hub.execute("docs", Update(unique_table, "k", {})).affected == 1
    assert hub.execute("docs", Update(unique_table, "nope", {})).affected == 0


def test_database_comes_from_the_url_path(hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str) -> None:
    hub.execute("docs", Put(unique_table, "k", {"a": 1}))
    with hub.connection("docs") as db:
        assert isinstance(db, Database) and db.name == raw_db.name
    assert unique_table in raw_db.list_collection_names()


@pytest.fixture
def scratch_database(raw_client: pymongo.MongoClient[Doc]) -> Iterator[str]:
    name = f"dbplex_opt_{uuid.uuid4().hex[:8]}"
    yield name
    raw_client.drop_database(name)


def test_database_option_overrides_the_url(
    mongo_url: str, raw_client: pymongo.MongoClient[Doc], scratch_database: str, unique_table: str
) -> None:
    source = {"url": mongo_url, "options": {"database": scratch_database}}
    with dbplex.open({"sources": {"docs": source}}) as hub:
        hub.execute("docs", Put(unique_table, "k", {"a": 1}))
    assert raw_client[scratch_database][unique_table].find_one({"_id": "k"}) == {"_id": "k", "a": 1}


def test_database_defaults_to_dbplex_when_the_url_names_none(mongo_url: str) -> None:
    bare = mongo_url.split("?")[0].rsplit("/", 1)[0]  # no path: no database named
    with dbplex.open({"sources": {"docs": {"url": bare}}}) as hub, hub.connection("docs") as db:
        assert db.name == "dbplex"


def test_values_mongodb_cannot_store_are_refused_before_sending(hub: dbplex.Hub, unique_table: str) -> None:
    with pytest.raises(OpError, match="source 'docs': mongo.bulk on '.*'.*8-byte ints"):
        hub.execute("docs", Bulk(unique_table, [BulkInsert({"n": 2**64})]))
    with pytest.raises(OpError, match="document too large"):
        hub.execute("docs", Put(unique_table, "k", {"blob": b"x" * (17 * 1024 * 1024)}))


def test_the_executor_makes_the_planned_call_on_a_checked_out_database(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    hub.execute("docs", Put(unique_table, "k1", {"a": 1}))
    with hub.connection("docs") as database:
        conn = resolve(database, hub.sources["docs"])
        updated = execute(conn, plans.plan_update(Update(unique_table, "k1", {"b": 2})))
        found = execute(conn, plans.plan_get(Get(unique_table, "k1")))
    assert updated.affected == 1
    assert found.rows == [{"key": "k1", "values": {"a": 1, "b": 2}}]
    assert raw_db[unique_table].find_one({"_id": "k1"}) == {"_id": "k1", "a": 1, "b": 2}
