"""Differential test: the same random op sequences through ``dbplex.open`` and ``dbplex.open_async``
give the same results, step by step, on every in-repo backend.

The sync hub runs each op on a table of this run's own and the async hub the same op on a twin
table, so both see the same history (and parallel runs do not meet); both are dropped at the end. Against the nx-27017 stand-in MongoDB keeps to the domain it stores
exactly (see tests/conformance/test_differential.py, whose op strategy this reuses).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dbplex
from dbplex import Delete, Op
from dbplex.testing.aio import BlockingHub
from tests.conformance.test_differential import KEYS, SETTINGS, TABLE, op_strategy, typed

#: tables of this run's own (the strategy's ops name TABLE): the sync hub's, and the async hub's twin.
RUN = uuid.uuid4().hex[:8]
MINE, TWIN = f"{TABLE}_{RUN}_sync", f"{TABLE}_{RUN}_aio"
BACKENDS = ("pg", "redis", "mongo")


@pytest.fixture(scope="module")
def hubs(dbplex_servers: Any) -> Iterator[tuple[dbplex.Hub, BlockingHub]]:
    config = {"sources": {name: {"url": dbplex_servers.url(name), "pool": {"max_size": 2}} for name in BACKENDS}}
    blocking = BlockingHub(config)
    try:
        with dbplex.open(config) as hub:
            try:
                yield hub, blocking
            finally:
                drop_run_tables(hub)
    finally:
        blocking.close()


def drop_run_tables(hub: dbplex.Hub) -> None:
    """Drop this run's two tables (collections, keys) from every backend: nothing is left behind."""
    from psycopg import sql

    with hub.connection("pg") as conn:
        for table in (MINE, TWIN):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    with hub.connection("mongo") as database:
        for table in (MINE, TWIN):
            database.drop_collection(table)
    with hub.connection("redis") as client:
        for key in client.scan_iter(match=f"*{RUN}*"):
            client.delete(key)


@pytest.fixture(scope="module")
def stand_in(hubs: tuple[dbplex.Hub, BlockingHub]) -> bool:
    with hubs[0].connection("mongo") as database:
        return bool(database.client.admin.command("buildInfo").get("process") == "nx_27017")


def on(table: str, op: Op) -> Op:
    return msgspec.structs.replace(op, table=table)  # type: ignore[type-var]


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(data=st.data())
def test_sync_and_async_return_the_same_results(
    hubs: tuple[dbplex.Hub, BlockingHub], stand_in: bool, backend: str, data: st.DataObject
) -> None:
    hub, blocking = hubs
    safe = backend == "mongo" and stand_in
    sequence = data.draw(st.lists(op_strategy(stand_in_safe=safe), min_size=1, max_size=25), label="ops")
    for key in KEYS:
        hub.execute(backend, Delete(MINE, key))
        blocking.execute(backend, Delete(TWIN, key))
    for step, op in enumerate(sequence):
        expected = hub.execute(backend, on(MINE, op))
        got = blocking.execute(backend, on(TWIN, op))
        assert typed([got.rows, got.affected]) == typed([expected.rows, expected.affected]), f"step {step}: {op!r}"
