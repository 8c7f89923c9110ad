"""One call path: every caller reaches a backend through the hub's bound hooks, and capabilities
draw connections from the hub's pools (the SQLite example backend, a real database in a file)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, hookimpl, plugins
from dbplex.backends import Source
from dbplex.bench.client import DbplexClient
from dbplex.errors import UnsupportedError
from dbplex.health import Status
from dbplex.pool import Pool

pytest.importorskip("dbplex_sqlite", reason="the SQLite example backend (examples/dbplex-sqlite) is not installed")


class Tally:
    """A cross-cutting plugin: wrappers on the query, pool and health hooks count what they see."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    @hookimpl(wrapper=True)
    def dbplex_query(self, source: Source, conn: Any, op: Any) -> Generator[None, Any, Any]:
        self.seen[f"query {source.name}"] += 1
        return (yield)

    @hookimpl(wrapper=True)
    def dbplex_pool(self, source: Source) -> Generator[None, Any, Any]:
        self.seen[f"pool {source.name} {source.role}"] += 1
        return (yield)

    @hookimpl(wrapper=True)
    def dbplex_health(self, source: Source, pool: Pool) -> Generator[None, Any, Any]:
        self.seen[f"health {source.name}"] += 1
        return (yield)


class Kept:
    """What the capability hooks below return: closable, nothing else."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def close(self) -> None:
        pass


class Capabilities:
    """A cross-cutting plugin giving SQLite sources a migrator, a partitioner, an analyzer and a checker that only keep
    what the hub handed them (enough to see which pools a capability receives)."""

    def __init__(self) -> None:
        self.given: list[tuple[str, Pool, Pool]] = []

    @hookimpl
    def dbplex_migrate(self, source: Source, pool: Pool, admin: Pool) -> Any:
        self.given.append(("migrate", pool, admin))
        return Kept("migrator")

    @hookimpl
    def dbplex_partition(self, source: Source, pool: Pool, admin: Pool) -> Any:
        self.given.append(("partition", pool, admin))
        return Kept("partitioner")

    @hookimpl
    def dbplex_analyze(self, source: Source, pool: Pool, admin: Pool) -> Any:
        self.given.append(("analyze", pool, admin))
        return Kept("analyzer")

    @hookimpl
    def dbplex_check(self, source: Source, pool: Pool, admin: Pool) -> Any:
        self.given.append(("check", pool, admin))
        return Kept("checker")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/app.db"


@pytest.fixture
def tally() -> Tally:
    return Tally()


@pytest.fixture
def hub(db_url: str, tally: Tally) -> Iterator[dbplex.Hub]:
    with dbplex.open({"sources": {"db": {"url": db_url}}}, plugins=plugins.load([tally])) as opened:
        yield opened


def test_wrappers_see_the_hub_the_transaction_the_bench_client_and_health(hub: dbplex.Hub, tally: Tally) -> None:
    hub.execute("db", Put("t", "k", {"a": 1}))
    with hub.transaction("db") as tx:
        tx.execute(Get("t", "k"))
    client = DbplexClient(hub, "db")
    assert client.get("t", "k", None).one()["values"] == {"a": 1}
    assert hub.health(["db"]).sources[0].status is Status.UP
    assert tally.seen == Counter({"query db": 3, "pool db primary": 1, "health db": 1})


def test_a_missing_capability_names_the_source_and_the_hook(hub: dbplex.Hub) -> None:
    with pytest.raises(UnsupportedError, match=r"source 'db': backend 'sqlite' has no migrations .*dbplex_migrate"):
        hub.migrator("db")
    with pytest.raises(UnsupportedError, match=r"source 'db': backend 'sqlite' has no partitioning .*dbplex_partition"):
        hub.partitioner("db")
    with pytest.raises(UnsupportedError, match=r"source 'db': backend 'sqlite' has no analyzer .*dbplex_analyze"):
        hub.analyzer("db")
    with pytest.raises(
        UnsupportedError, match=r"source 'db': backend 'sqlite' has no data-quality checks .*dbplex_check"
    ):
        hub.checker("db")


def test_capabilities_receive_the_hubs_pools_and_the_admin_pool_is_one_of_them(db_url: str, tally: Tally) -> None:
    given = Capabilities()
    with dbplex.open(
        {"sources": {"db": {"url": db_url, "pool": {"max_size": 1}}}}, plugins=plugins.load([tally, given])
    ) as hub:
        assert hub.migrator("db").kind == "migrator"  # type: ignore[attr-defined]
        assert hub.partitioner("db").kind == "partitioner"  # type: ignore[attr-defined]
        assert hub.analyzer("db").kind == "analyzer"  # type: ignore[attr-defined]
        assert hub.checker("db").kind == "checker"  # type: ignore[attr-defined]
        assert hub.pool_stats() == {}  # handing the pools over opened none of them
        assert [kind for kind, _, _ in given.given] == ["migrate", "partition", "analyze", "check"]
        assert {(pool, admin) for _, pool, admin in given.given} == {hub.capability_pools("db")}
        _, pool, admin = given.given[0]
        with admin.connection() as session, pool.connection():
            assert session is not None  # an admin session and an ordinary one at once, with max_size 1
            stats = hub.pool_stats()
            assert stats["db/admin"].used == 1 and stats["db/admin"].max == 4
            assert stats["db"].used == 1 and stats["db"].max == 1
        assert tally.seen["pool db/admin admin"] == 1
        hub.after_fork()  # as in a forked child: the pools are dropped, the capabilities keep working
        assert hub.pool_stats() == {}
        with admin.connection():
            assert set(hub.pool_stats()) == {"db/admin"}
