"""Fixtures for the MongoDB backend's tests: a hub on the test server and a raw pymongo client.

The server comes from ``DBPLEX_TEST_MONGO_URL`` (or the sandbox). Whether it replicates is
asked of the server itself (``hello``), so tests of transactions and change streams run on a
replica set or sharded cluster and are skipped, naming the missing feature, anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

import dbplex
from dbplex.testing.plugin import Servers

Doc = dict[str, Any]


@pytest.fixture(scope="session")
def mongo_url(dbplex_servers: Servers) -> str:
    return dbplex_servers.url("mongo")


@pytest.fixture(scope="session")
def mongo_kind(dbplex_servers: Servers, mongo_url: str) -> str:
    """``mongod``, ``nx-27017``, or ``given`` (a URL from the environment without a kind)."""
    return dbplex_servers.mongo_kind


@pytest.fixture(scope="session")
def raw_client(mongo_url: str) -> Iterator[pymongo.MongoClient[Doc]]:
    """A plain pymongo client on the test server, for setting up and checking what dbplex did."""
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def raw_db(raw_client: pymongo.MongoClient[Doc]) -> Database[Doc]:
    """The database the test URL names, as dbplex uses it."""
    return raw_client.get_default_database("dbplex")


@pytest.fixture
def hub(mongo_url: str) -> Iterator[dbplex.Hub]:
    """A hub with one MongoDB source, ``docs``."""
    with dbplex.open({"sources": {"docs": {"url": mongo_url, "pool": {"min_size": 1, "max_size": 4}}}}) as hub:
        yield hub


@pytest.fixture(scope="session")
def on_nx(raw_client: pymongo.MongoClient[Doc], mongo_kind: str) -> bool:
    """Whether the server is the nx-27017 stand-in (its ``buildInfo`` says so, whatever the env says)."""
    return mongo_kind == "nx-27017" or raw_client.admin.command("buildInfo").get("process") == "nx_27017"


@pytest.fixture
def nx_bug(request: pytest.FixtureRequest, on_nx: bool) -> Callable[[str], None]:
    """``nx_bug("what it gets wrong")`` expects the test to fail on nx-27017 (strictly, so a fix shows)."""

    def expect_failure(bug: str) -> None:
        if on_nx:
            request.applymarker(pytest.mark.xfail(reason=f"nx-27017 0.8.1 bug: {bug}", strict=True))

    return expect_failure


@pytest.fixture(scope="session")
def replicated(raw_client: pymongo.MongoClient[Doc]) -> bool:
    hello = raw_client.admin.command("hello")
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


@pytest.fixture(scope="session")
def needs_replica_set(replicated: bool, mongo_kind: str, on_nx: bool) -> Callable[[str], None]:
    """``needs_replica_set("change streams")`` skips the test on a server that does not replicate."""
    server = "nx-27017" if on_nx else "the given server" if mongo_kind == "given" else mongo_kind

    def check(feature: str) -> None:
        if not replicated:
            pytest.skip(f"{feature} need a replica set; {server} has none")

    return check
