"""The backend conformance suite, run on the MongoDB backend.

Three of its tests meet bugs of the nx-27017 stand-in; against it they are expected to fail
(strictly, so that a fixed stand-in shows up), and they run normally against a real mongod.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pymongo
import pytest
from pymongo import CursorType

import dbplex
from dbplex.check.backend import Checker
from dbplex.partition import PartitionSpec
from dbplex.testing.conformance import ConformanceSuite, RecordsSection
from dbplex.testing.conformance_pool import OpenSource
from dbplex_mongo import Aggregate, GridFSGet, GridFSPut, Watch


def _replicated(hub: dbplex.Hub) -> bool:
    with hub.connection("s") as db:
        hello = db.client.admin.command("hello")
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


class KnownNxBugs(RecordsSection):
    """The record tests that meet nx-27017's bugs, expected to fail there (also run in both modes by tests/aio)."""

    backend = "mongo"

    def test_put_over_an_existing_record_replaces_every_type(
        self, hub: dbplex.Hub, unique_table: str, nx_bug: Callable[[str], None]
    ) -> None:
        nx_bug("replacing a stored document that holds binary fails: 'Object of type bytes is not JSON serializable'")
        super().test_put_over_an_existing_record_replaces_every_type(hub, unique_table)

    def test_update_keeps_types_exactly(
        self, hub: dbplex.Hub, unique_table: str, nx_bug: Callable[[str], None]
    ) -> None:
        nx_bug("$set of a top-level bool stores 1/0; of a top-level float, 15 significant digits")
        super().test_update_keeps_types_exactly(hub, unique_table)

    def test_non_ascii_field_names_are_written_and_updated(
        self, hub: dbplex.Hub, unique_table: str, nx_bug: Callable[[str], None]
    ) -> None:
        nx_bug("$set leaves a non-ASCII field unchanged in a document written by insert or replace")
        super().test_non_ascii_field_names_are_written_and_updated(hub, unique_table)


class TestConformance(KnownNxBugs, ConformanceSuite):
    backend = "mongo"

    def tagged_url(self, url: str, tag: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}appname={tag}"

    @contextmanager
    def hold(self, hub: dbplex.Hub, table: str, count: int) -> Iterator[None]:
        """An exhaust cursor keeps its connection until closed (a MongoClient borrows one per operation)."""
        with hub.connection("s") as db:
            collection = db[f"{table}_hold"]
            if collection.estimated_document_count() < 3:
                collection.insert_many([{"n": n} for n in range(3)])
            with ExitStack() as stack:
                for _ in range(count):
                    cursor = collection.find({}, cursor_type=CursorType.EXHAUST, batch_size=1)
                    next(cursor)
                    stack.callback(cursor.close)
                yield

    @contextmanager
    def isolated(self, url: str) -> Iterator[dict[str, Any]]:
        name = f"conf_{uuid.uuid4().hex[:10]}"
        head, _, query = url.partition("?")
        base = head.rstrip("/").rsplit("/", 1)[0] if head.count("/") > 2 else head.rstrip("/")
        try:
            yield {"url": f"{base}/{name}" + (f"?{query}" if query else "")}
        finally:
            with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as admin:
                admin.drop_database(name)

    def partition_spec(self, target: str, **fields: Any) -> PartitionSpec:
        return super().partition_spec(target, **{"options": {"layout": "collections"}, **fields})

    def server_lacks(self, hub: dbplex.Hub, capability: str) -> str | None:
        if capability in ("transactions", "change_streams", "watch") and not _replicated(hub):
            return "MongoDB has it only on a replica set or sharded cluster; the test server is a standalone"
        return None

    def plant(self, hub: dbplex.Hub, table: str, rows: list[dict[str, Any]]) -> str:
        if rows:
            with hub.connection("s") as db:
                db[table].insert_many([{"_id": r["id"], "name": r["name"], "n": r["n"]} for r in rows])
        return table

    def test_batches_stream_every_row_once_in_bounded_batches(
        self, checked: tuple[Checker, str], nx_bug: Callable[[str], None]
    ) -> None:
        nx_bug("an unfiltered find sorted by an integer _id returns it in text order (1, 10, 11, ..., 2)")
        super().test_batches_stream_every_row_once_in_bounded_batches(checked)

    def check_aggregate(self, hub: dbplex.Hub, table: str) -> None:
        with hub.connection("s") as db:
            db[table].insert_many([{"g": "a", "n": 1}, {"g": "a", "n": 2}, {"g": "b", "n": 5}])
        pipeline = [{"$group": {"_id": "$g", "total": {"$sum": "$n"}}}, {"$sort": {"_id": 1}}]
        assert hub.execute("s", Aggregate(table, pipeline)).rows == [{"_id": "a", "total": 3}, {"_id": "b", "total": 5}]

    def check_files(self, hub: dbplex.Hub, table: str) -> None:
        data = bytes(range(256)) * 5000  # beyond one document's worth of chunks
        hub.execute("s", GridFSPut(f"{table}.bin", data, bucket=table))
        assert hub.execute("s", GridFSGet(f"{table}.bin", bucket=table)).one()["data"] == data

    def check_change_streams(self, hub: dbplex.Hub, table: str) -> None:
        stop = threading.Event()

        def write() -> None:
            with hub.connection("s") as db:
                n = 0
                while not stop.wait(0.05):
                    db[table].insert_one({"n": n})
                    n += 1

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            events = hub.execute("s", Watch(table, max_events=2, max_wait=30)).rows
        finally:
            stop.set()
            writer.join(10)
        assert [e["operationType"] for e in events] == ["insert", "insert"]

    def test_a_connection_killed_by_the_server_is_replaced_not_handed_out(
        self, open_source: OpenSource, source_url: str, unique_table: str
    ) -> None:
        pytest.skip(
            "MongoDB has no command that ends another client's connection (killOp and killSessions end "
            "operations and sessions; the connection stays open)"
        )
