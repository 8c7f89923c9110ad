"""The server's own count of dbplex's sessions agrees with ``hub.pool_stats()``.

``pool_stats()`` is what operators size servers and alerts by, so every session dbplex opens
must show up there. Each test opens sources whose sessions the server can tell apart from
anyone else's, and compares the server's count with the sum of ``size`` over every pool the hub
reports: during a workload, during a migration step, and with the partitioner in use after
``maintain`` (its sessions live as long as the hub, so that is the state maintenance leaves).

- PostgreSQL: a login role of the test's own, counted in ``pg_stat_activity`` by ``usename``
  (the migration lock renames its session's ``application_name``, a role it cannot change);
- Redis: a ``client_name`` of the test's own, counted in ``CLIENT LIST``;
- MongoDB: skipped, see :data:`MONGO`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import dbplex
from dbplex import Get, Put
from dbplex.migrate import Migrations
from dbplex.partition import PartitionSpec
from dbplex.testing.plugin import Servers

#: why MongoDB is not compared: a count that would mean nothing.
MONGO = (
    "MongoDB reports connections per server, not per client: serverStatus().connections counts every "
    "client's, including each MongoClient's monitoring connections that no pool has; $currentOp lists "
    "operations, not idle connections"
)

#: (server count, pool_stats() count) seen by the migration step, for the test to compare.
SEEN: list[tuple[int, int]] = []

PROBE = """\
from tests.conformance.test_session_count import probe

def up(ctx):
    probe(ctx.hub)

def down(ctx):
    pass
"""


class Counted:
    """A source whose sessions the server counts: its fields, and that count."""

    def __init__(self, fields: dict[str, Any], count: Callable[[], int]) -> None:
        self.fields = fields
        self.count = count


_current: Counted | None = None


def probe(hub: dbplex.Hub) -> None:
    """Called by the migration step: both counts, while the step runs."""
    assert _current is not None
    SEEN.append((_current.count(), pooled(hub)))


def pooled(hub: dbplex.Hub) -> int:
    """Connections open in every pool the hub reports (primaries, replicas, and any sibling pools)."""
    return sum(stats.size for stats in hub.pool_stats().values())


@pytest.fixture
def pg_counted(dbplex_servers: Servers) -> Iterator[Counted]:
    psycopg = pytest.importorskip("psycopg")
    url = dbplex_servers.url("pg")
    role, password = f"conf_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"CREATE SCHEMA {role} AUTHORIZATION {role}")  # first on the default search_path

    def count() -> int:
        with psycopg.connect(url, autocommit=True) as admin:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]).fetchone()
        return int(row[0]) if row else 0

    parts = urlsplit(url)
    as_role = urlunsplit((parts.scheme, f"{role}:{password}@{parts.netloc.rpartition('@')[2]}", *parts[2:]))
    yield Counted({"url": as_role, "options": {"schema": role}}, count)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = %s", [role])
        admin.execute(f"DROP SCHEMA {role} CASCADE")
        admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def redis_counted(dbplex_servers: Servers) -> Iterator[Counted]:
    redis = pytest.importorskip("redis")
    url = dbplex_servers.url("redis")
    name = f"conf_{uuid.uuid4().hex[:10]}"
    prefix = f"{name}:"

    def count() -> int:
        with redis.Redis.from_url(url) as admin:
            return sum(1 for client in admin.client_list() if client.get("name") == name)

    yield Counted({"url": f"{url}{'&' if '?' in url else '?'}client_name={name}", "options": {"prefix": prefix}}, count)
    with redis.Redis.from_url(url) as admin:
        doomed = list(admin.scan_iter(match=f"{prefix}*", count=1000))
        if doomed:
            admin.delete(*doomed)


@pytest.fixture(params=["pg", "redis", "mongo"])
def counted(request: pytest.FixtureRequest) -> Iterator[Counted]:
    global _current
    if request.param == "mongo":
        pytest.skip(MONGO)
    _current = request.getfixturevalue(f"{request.param}_counted")
    yield _current
    _current = None


def open_counted(counted: Counted, **pool: Any) -> dbplex.Hub:
    return dbplex.open({"sources": {"s": {**counted.fields, "pool": {"min_size": 2, "max_size": 2, **pool}}}})


def settle(done: Callable[[], bool]) -> None:
    """Wait (a liveness bound, not a timing assertion) until ``done()``: ``min_size`` connections
    open in the background, and one may be accepted by the server a moment before the pool counts it."""
    for _ in range(300):
        if done():
            return
        threading.Event().wait(0.1)
    raise AssertionError("the pool never reached min_size, as the server counts it")


#: how often the workload test compares the two counts while the workload runs.
SAMPLES = 50


def test_during_a_workload(counted: Counted, unique_table: str) -> None:
    with open_counted(counted) as hub:
        hub.execute("s", Put(unique_table, "k", {"v": 1}))
        started = threading.Barrier(5)
        stop = threading.Event()

        def work() -> None:
            hub.execute("s", Get(unique_table, "k"))
            started.wait(30)
            while not stop.is_set():
                hub.execute("s", Get(unique_table, "k"))

        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            started.wait(30)
            settle(lambda: (counted.count(), pooled(hub)) == (2, 2))
            seen = [(counted.count(), pooled(hub)) for _ in range(SAMPLES)]
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
    assert seen == [(2, 2)] * SAMPLES, f"(server, pool_stats) while the workload ran: {seen}"


def test_during_a_migration(counted: Counted, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "V0001__probe.py").write_text(PROBE)
    SEEN.clear()
    with open_counted(counted) as hub, Migrations(hub, tmp_path) as migrations:
        hub.execute("s", Get("warm", "k"))
        migrations.up()
    [(server, pools)] = SEEN
    assert server == pools, f"the server counts {server} sessions, pool_stats() {pools}"


def test_after_partition_maintain_with_the_partitioner_in_use(counted: Counted, unique_table: str) -> None:
    spec = PartitionSpec(source="s", target=unique_table, strategy="range", key="at", interval="1 day", premake=1)
    with open_counted(counted) as hub:
        if counted.fields["url"].startswith("postgresql"):
            from dbplex_pg import SQL

            columns = "id bigint NOT NULL, at timestamptz NOT NULL"
            hub.execute("s", SQL(f"CREATE TABLE {unique_table} ({columns}) PARTITION BY RANGE (at)"))
        hub.execute("s", Get("warm", "k"))
        report = hub.partitioned(spec).maintain()
        assert report.status == "done", report
        server, pools = counted.count(), pooled(hub)
    assert server == pools, f"the server counts {server} sessions, pool_stats() {pools}"
