"""Transactions and change streams: on replica sets and sharded clusters, refused elsewhere.

The backend asks the server (``hello``) whether it replicates. Tests that need it run only
against such a server (a real ``mongod`` replica set) and are skipped elsewhere with the
missing feature named; the refusal itself is tested wherever the server does not replicate
(nx-27017, a standalone mongod).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo.database import Database

import dbplex
from dbplex import Get, Put
from dbplex.errors import UnsupportedError
from dbplex_mongo import Bulk, BulkInsert, Find, Watch

Doc = dict[str, Any]


@pytest.fixture
def standalone(replicated: bool) -> None:
    if replicated:
        pytest.skip("the server replicates, so it has nothing to refuse")


# -- refusals on servers without replication ------------------------------------------------------


@pytest.mark.usefixtures("standalone")
def test_transactions_are_refused_naming_the_missing_server_feature(hub: dbplex.Hub) -> None:
    message = (
        r"source 'docs': MongoDB transactions need a replica set or sharded cluster; .+ at .+ is a standalone server"
    )
    with pytest.raises(UnsupportedError, match=message), hub.transaction("docs"):
        pass


@pytest.mark.usefixtures("standalone")
def test_change_streams_are_refused_naming_the_missing_server_feature(hub: dbplex.Hub, unique_table: str) -> None:
    message = r"source 'docs': change streams need a replica set or sharded cluster; .+ is a standalone server"
    with pytest.raises(UnsupportedError, match=message):
        hub.execute("docs", Watch(unique_table, max_wait=0.1))


# -- transactions ---------------------------------------------------------------------------------


@pytest.fixture
def transactions(needs_replica_set: Callable[[str], None], raw_db: Database[Doc], unique_table: str) -> None:
    needs_replica_set("multi-document transactions")
    raw_db.create_collection(unique_table)  # before 4.4, a transaction cannot create a collection


@pytest.mark.usefixtures("transactions")
def test_own_ops_and_raw_pymongo_calls_join_the_transaction(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    with hub.transaction("docs") as tx:
        tx.execute(Put(unique_table, "a", {"n": 1}))
        tx.execute(Bulk(unique_table, [BulkInsert({"_id": "b", "n": 2})]))
        tx.conn.database[unique_table].insert_one({"_id": "c", "n": 3}, session=tx.conn.session)
        assert len(tx.execute(Find(unique_table)).rows) == 3
        assert raw_db[unique_table].count_documents({}) == 0  # not visible outside before the commit
    assert sorted(d["_id"] for d in raw_db[unique_table].find()) == ["a", "b", "c"]


@pytest.mark.usefixtures("transactions")
def test_an_error_in_the_block_aborts_every_write(hub: dbplex.Hub, unique_table: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), hub.transaction("docs") as tx:
        tx.execute(Bulk(unique_table, [BulkInsert({"_id": "b"})]))
        raise RuntimeError("boom")
    assert hub.execute("docs", Get(unique_table, "b")).rows == []


# -- change streams -------------------------------------------------------------------------------


@pytest.fixture
def change_streams(needs_replica_set: Callable[[str], None]) -> None:
    needs_replica_set("change streams")


@pytest.fixture
def writer(change_streams: None, raw_db: Database[Doc], unique_table: str) -> Iterator[None]:
    """Inserts ``{"n": i}`` into the test's table every 50 ms until the test ends."""
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.wait(0.05):
            raw_db[unique_table].insert_one({"n": n})
            n += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.mark.usefixtures("writer")
def test_watch_returns_the_changes_made_while_it_waits(hub: dbplex.Hub, unique_table: str) -> None:
    events = hub.execute("docs", Watch(unique_table, max_events=2, max_wait=30)).rows
    assert len(events) == 2
    assert all(e["operationType"] == "insert" and e["ns"]["coll"] == unique_table for e in events)
    assert events[0]["fullDocument"]["n"] < events[1]["fullDocument"]["n"]


@pytest.mark.usefixtures("writer")
def test_resume_after_continues_where_the_last_call_stopped(
    hub: dbplex.Hub, raw_db: Database[Doc], unique_table: str
) -> None:
    (first,) = hub.execute("docs", Watch(unique_table, max_events=1, max_wait=30)).rows
    raw_db[unique_table].update_one(first["documentKey"], {"$set": {"seen": True}})  # while nobody watches
    only_updates = [{"$match": {"operationType": "update"}}]
    watch = Watch(unique_table, only_updates, max_events=1, max_wait=30, resume_after=first["_id"])
    (update,) = hub.execute("docs", watch).rows
    assert update["documentKey"] == first["documentKey"]
    assert update["updateDescription"]["updatedFields"] == {"seen": True}


@pytest.mark.usefixtures("change_streams")
def test_watch_returns_what_it_saw_when_the_wait_ends(hub: dbplex.Hub, unique_table: str) -> None:
    assert hub.execute("docs", Watch(unique_table, max_wait=0.3)).rows == []


# -- replication lag in health ---------------------------------------------------------------------


def test_health_reports_the_replication_lag_of_a_replica_set_primary(
    needs_replica_set: Callable[[str], None], hub: dbplex.Hub, raw_db: Database[Doc]
) -> None:
    needs_replica_set("replication lag readings (replSetGetStatus)")
    status = raw_db.client.admin.command("replSetGetStatus")
    (check,) = hub.health().sources
    assert check.resources is not None
    secondaries = {m["name"] for m in status["members"] if m.get("state") == 2 and "optimeDate" in m}
    me = next(m for m in status["members"] if m.get("self"))
    if me.get("state") == 1:  # the primary reports its secondaries; a single-node set has none
        assert set(check.resources.replica_lag_seconds) == secondaries
        assert all(lag >= 0 for lag in check.resources.replica_lag_seconds.values())
        assert check.lag_seconds is None
    else:
        assert check.lag_seconds is not None and check.lag_seconds >= 0
