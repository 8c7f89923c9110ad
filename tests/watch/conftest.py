"""A hub over PostgreSQL, MongoDB and Redis, and a table of the test's own whose changes are recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import dbplex
from dbplex.errors import UnsupportedError

BACKENDS = ("pg", "mongo", "redis")


@dataclass
class Watched:
    hub: dbplex.Hub
    source: str
    table: str
    url: str


def _drop(hub: dbplex.Hub, source: str, table: str) -> None:
    if source == "pg":
        from dbplex_pg.ops import SQL

        hub.execute(source, SQL(f'DROP TABLE IF EXISTS "{table}"'))
        hub.execute(source, SQL("DELETE FROM dbplex_changes WHERE table_name = %s", [table]))
        hub.execute(source, SQL("DELETE FROM dbplex_changes_pruned WHERE table_name = %s", [table]))
    elif source == "mongo":
        with hub.connection(source) as db:
            db.drop_collection(table)
    else:
        from dbplex_redis.ops import Command

        for suffix in ("changes", "keys", "ttl", "pruned"):
            hub.execute(source, Command(["DEL", f"{table}:{suffix}"]))


@pytest.fixture(params=BACKENDS)
def watched(request: pytest.FixtureRequest, dbplex_servers: Any) -> Iterator[Watched]:
    """``watched.table`` in ``watched.source``, its changes recorded (installed) and empty."""
    source = request.param
    url = dbplex_servers.url(source)
    hub = dbplex.open({"sources": {source: {"url": url}}})
    table = f"watch_{uuid.uuid4().hex[:10]}"
    try:
        try:
            hub.change_feed(source).install(table)
        except UnsupportedError as exc:  # MongoDB without a replica set (nx-27017, a standalone mongod)
            pytest.skip(str(exc))
        yield Watched(hub, source, table, url)
    finally:
        _drop(hub, source, table)
        hub.close()
