"""What the MongoDB pool adds to pymongo (lifetime, resize, fork safety) and the URL options that
reach MongoClient as they are.

Failing over between replica-set members (``replicaSet=`` with several hosts, a primary stepping
down) needs a real replica set: nx-27017 is a standalone server, so here the options are checked
on the client and the ops run on a standalone; a replica set name the server does not have fails
within ``connect_timeout``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo.errors import InvalidOperation
from pymongo.read_preferences import ReadPreference

import dbplex
from dbplex import Get, Put
from dbplex.errors import SourceUnavailable


def with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="&".join(q for q in (parts.query, query) if q)))


def open_docs(url: str, **fields: Any) -> dbplex.Hub:
    return dbplex.open({"sources": {"docs": {"url": url, "connect_timeout": 3, **fields}}})


def test_url_options_reach_the_client(mongo_url: str, unique_table: str) -> None:
    url = with_query(mongo_url, "readPreference=secondaryPreferred&w=majority&retryWrites=false&appname=dbplex-test")
    with open_docs(url) as hub:
        with hub.connection("docs") as db:
            client = db.client
        assert client.read_preference == ReadPreference.SECONDARY_PREFERRED
        assert client.write_concern.document == {"w": "majority"}
        assert client.options.retry_writes is False
        assert client.options.pool_options.metadata["application"] == {"name": "dbplex-test"}
        hub.execute("docs", Put(unique_table, "k", {"n": 1}))  # a standalone serves secondaryPreferred reads
        assert hub.execute("docs", Get(unique_table, "k")).one()["values"] == {"n": 1}


def test_a_url_without_replica_set_talks_to_the_one_server(mongo_url: str, unique_table: str) -> None:
    with open_docs(mongo_url) as hub:
        hub.execute("docs", Put(unique_table, "k", {"n": 1}))
        with hub.connection("docs") as db:
            assert db.client.options.replica_set_name is None
            assert db.client.topology_description.topology_type_name in {"Single", "ReplicaSetWithPrimary", "Sharded"}


def test_a_replica_set_the_server_is_not_part_of_fails_within_connect_timeout(mongo_url: str) -> None:
    with open_docs(with_query(mongo_url, "replicaSet=dbplex-no-such-set"), connect_timeout=1) as hub:
        with hub.connection("docs") as db:
            assert db.client.options.replica_set_name == "dbplex-no-such-set"
        with pytest.raises(SourceUnavailable, match="source 'docs': cannot connect"):
            hub.execute("docs", Get("t", "k"))


def test_the_client_is_replaced_after_its_lifetime(mongo_url: str, unique_table: str) -> None:
    pool = {"max_lifetime": 0.5, "lifetime_jitter": 0.5}
    with open_docs(mongo_url, pool=pool) as hub:
        hub.execute("docs", Put(unique_table, "k", {"n": 1}))
        with hub.connection("docs") as db:
            first = db.client
        time.sleep(0.6)  # past the lifetime (0.25-0.5 s): the next checkout gets a new client
        assert hub.execute("docs", Get(unique_table, "k")).one()["values"] == {"n": 1}
        with hub.connection("docs") as db:
            assert db.client is not first
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the old client drains for min(max_lifetime, 60 s), then closes
            try:
                first.admin.command("ping")
            except InvalidOperation:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the replaced client was not closed after its grace period")
        stats = hub.pool_stats()["docs"]
        assert stats.recycled >= 1 and stats.lost == 0  # its connection, closed on purpose with it


def test_resize_replaces_the_client_with_the_new_sizes(mongo_url: str, unique_table: str) -> None:
    with open_docs(mongo_url, pool={"min_size": 0, "max_size": 2}) as hub:
        hub.execute("docs", Put(unique_table, "k", {"n": 1}))
        hub.resize("docs", 1, 7)
        with hub.connection("docs") as db:
            options = db.client.options.pool_options
        assert (options.min_pool_size, options.max_pool_size) == (1, 7)
        stats = hub.pool_stats()["docs"]
        assert (stats.min, stats.max) == (1, 7)
        assert hub.execute("docs", Get(unique_table, "k")).one()["values"] == {"n": 1}


def test_a_forked_child_gets_a_client_of_its_own(mongo_url: str, unique_table: str) -> None:
    with open_docs(mongo_url) as hub:
        hub.execute("docs", Put(unique_table, "k", {"from": "parent"}))
        with hub.connection("docs") as db:
            parent = db.client
        child = os.fork()
        if child == 0:
            status = 1
            try:
                with hub.connection("docs") as db:
                    fresh = db.client is not parent
                values = hub.execute("docs", Get(unique_table, "k")).one()["values"]
                status = 0 if fresh and values == {"from": "parent"} else 2
            except BaseException:
                traceback.print_exc(file=sys.stderr)
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(wait_status) == 0
        with hub.connection("docs") as db:
            assert db.client is parent  # the parent keeps its own
        assert hub.execute("docs", Get(unique_table, "k")).rows


def test_connections_of_a_replaced_client_are_told_apart_from_its_successors(mongo_url: str, unique_table: str) -> None:
    """pymongo numbers connections from 1 in each client: while the old client still holds its
    connection 1 (an exhaust cursor pins it), the new client's connection 1 is another one."""
    from pymongo import CursorType

    with open_docs(mongo_url, pool={"leak_threshold": 0.2}) as hub:
        pool: Any = hub.pool("docs")
        with hub.connection("docs") as db:
            db[unique_table].insert_many([{"_id": i} for i in range(5)])
            cursor = db[unique_table].find(cursor_type=CursorType.EXHAUST, batch_size=1)
            assert next(cursor)["_id"] == 0  # the old client's connection stays checked out
            pool.rotation.renew()  # as after its lifetime: the old client keeps serving this checkout
            with hub.connection("docs") as new:
                assert new.client is not db.client
                assert new[unique_table].find_one({"_id": 1}) == {"_id": 1}  # the new client's connection 1
            assert hub.pool_stats()["docs"].used == 1  # the old one is still out
            time.sleep(0.3)
            assert len(pool.monitor.leak_detector.holders()) == 1  # and still tracked by the leak detector
            assert next(cursor)["_id"] == 1  # the old client still serves its checkout
            cursor.close()
        assert hub.pool_stats()["docs"].used == 0
        assert not pool.monitor.leak_detector.holders()


def test_a_replaced_client_closes_when_its_last_checkout_ends(mongo_url: str, unique_table: str) -> None:
    with open_docs(mongo_url, pool={"min_size": 1, "max_size": 2}) as hub:
        pool: Any = hub.pool("docs")
        hub.execute("docs", Put(unique_table, "k", {"v": 1}))
        with hub.connection("docs") as old:
            pool.rotation.renew()
            assert hub.execute("docs", Get(unique_table, "k")).rows  # served by the new client
            assert old[unique_table].find_one({"_id": "k"}) is not None  # the old one serves its checkout
        with pytest.raises(InvalidOperation):  # closed once that checkout ended
            old[unique_table].find_one({"_id": "k"})
        assert hub.pool_stats()["docs"].recycled >= 1, "its connection counted as recycled"


def test_a_migrator_uses_its_database_inside_one_admin_checkout_until_closed(mongo_url: str, unique_table: str) -> None:
    with open_docs(mongo_url) as hub:
        _, admin = hub.capability_pools("docs")
        migrator = hub.migrator("docs")
        db = migrator.connection
        admin_pool: Any = admin.open()
        admin_pool.rotation.renew()  # as after the admin client's lifetime
        db[unique_table].insert_one({"_id": 1})  # the migrator's checkout keeps its client open
        assert migrator.connection is db
        migrator.close()
        with pytest.raises(InvalidOperation):  # its checkout ended: the replaced client closed
            db[unique_table].find_one({"_id": 1})
        with hub.connection("docs") as fresh:
            assert fresh[unique_table].find_one({"_id": 1}) == {"_id": 1}
