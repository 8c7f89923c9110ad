"""What only dbplex's own pool can show, on real SQLite files (examples/dbplex-sqlite's connector):
a return wakes exactly one waiter, in arrival order; reconnection is paced by the backoff, not
by callers; a forked child never uses its parent's connections. The pool behaviour every
backend shares is certified by the conformance suite."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put
from dbplex.errors import SourceUnavailable
from dbplex.pooling import ConnectorPool

pytest.importorskip(
    "dbplex_sqlite", reason="the example SQLite backend (examples/dbplex-sqlite) provides the connector"
)

OpenHub = Callable[..., dbplex.Hub]


@pytest.fixture
def open_hub(tmp_path: Path) -> Iterator[OpenHub]:
    hubs: list[dbplex.Hub] = []

    def open_(path: Path | None = None, **pool: Any) -> dbplex.Hub:
        url = f"sqlite:///{path or tmp_path / 'pool.db'}"
        hub = dbplex.open({"sources": {"db": {"url": url, "pool": pool}}})
        hubs.append(hub)
        return hub

    yield open_
    for hub in hubs:
        hub.close()


def eventually(probe: Callable[[], object], what: str) -> None:
    """Poll ``probe`` until truthy; 10 s is a bound for a loaded machine, not a figure."""
    deadline = time.monotonic() + 10
    while not probe():
        assert time.monotonic() < deadline, f"{what}: not within 10s"
        time.sleep(0.005)


def test_the_hub_builds_the_core_pool_from_the_backends_connector(open_hub: OpenHub) -> None:
    hub = open_hub()
    pool = hub.pool("db")
    assert isinstance(pool, ConnectorPool) and type(pool.connector).__name__ == "SqliteConnector"
    assert isinstance(pool, dbplex.Pool)


def test_a_returned_connection_wakes_exactly_one_waiter_in_arrival_order(open_hub: OpenHub) -> None:
    hub = open_hub(min_size=1, max_size=1, timeout=30)
    got: list[tuple[int, object]] = []
    done = [threading.Event() for _ in range(3)]

    def take(n: int) -> None:
        with hub.connection("db") as conn:
            got.append((n, conn))
            done[n].wait(30)

    threads = []
    with hub.connection("db") as held:
        for n in range(3):  # each queued before the next arrives
            threads.append(threading.Thread(target=take, args=(n,)))
            threads[-1].start()
            eventually(lambda n=n: hub.pool_stats()["db"].pending == n + 1, f"waiter {n} queued")
    for n in range(3):
        eventually(lambda n=n: len(got) == n + 1, f"waiter {n} served")
        stats = hub.pool_stats()["db"]
        assert [who for who, _ in got] == list(range(n + 1))  # first come, first served
        assert stats.pending == 2 - n and stats.used == 1  # the others still wait: one woken per return
        done[n].set()
    for thread in threads:
        thread.join()
    assert all(conn is held for _, conn in got)  # handed over, never reopened
    stats = hub.pool_stats()["db"]
    assert (stats.created, stats.acquired, stats.timeouts, stats.used, stats.idle) == (1, 4, 0, 0, 1)
    assert stats.acquired == stats.wait.count == stats.use.count


def test_while_the_database_cannot_open_callers_fail_fast_and_only_the_backoff_retries(
    open_hub: OpenHub, tmp_path: Path
) -> None:
    folder = tmp_path / "later"  # sqlite3 cannot create a file in a folder that does not exist
    hub = open_hub(folder / "pool.db", min_size=0, max_size=2, reconnect_min=30, reconnect_max=60)
    with pytest.raises(SourceUnavailable, match="source 'db': cannot open SQLite database"):
        hub.execute("db", Get("t", "k"))
    for _ in range(50):
        with pytest.raises(SourceUnavailable, match="source 'db': cannot open SQLite database.*reconnecting"):
            hub.execute("db", Get("t", "k"))
    stats = hub.pool_stats()["db"]
    # one attempt: the next is the backoff's, 15-30 s away; callers neither connect nor queue
    assert (stats.errors, stats.created, stats.timeouts, stats.pending, stats.acquired) == (1, 0, 0, 0, 0)


def test_reconnection_never_gives_up_and_ends_when_the_database_opens(open_hub: OpenHub, tmp_path: Path) -> None:
    folder = tmp_path / "later"
    hub = open_hub(folder / "pool.db", min_size=2, max_size=3, reconnect_min=0.01, reconnect_max=0.05)
    with pytest.raises(SourceUnavailable, match="cannot open SQLite database"):
        hub.pool("db")  # min_size > 0: the first connection is opened up front
    folder.mkdir()
    hub.execute("db", Put("t", "k", {"n": 1}))
    pool = hub.pool("db")
    eventually(lambda: pool.stats().size == 2, "min_size reached")
    folder.rename(tmp_path / "gone")  # what is open stays open; new connections fail
    hub.resize("db", 3, 3)  # a third is wanted, and cannot open
    eventually(lambda: pool.stats().errors >= 5, "the background keeps trying, paced by the backoff")
    assert hub.execute("db", Get("t", "k")).one()["values"] == {"n": 1}  # open connections still serve
    (tmp_path / "gone").rename(folder)
    eventually(lambda: pool.stats().size == 3, "min_size reached once the database opens again")
    errors = pool.stats().errors
    time.sleep(0.2)  # several reconnect_max: attempts have stopped, as none fails any more
    assert pool.stats().errors == errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_opens_its_own_connections_and_forgets_the_parents(open_hub: OpenHub) -> None:
    hub = open_hub(min_size=1, max_size=2)
    hub.execute("db", Put("t", "k", {"from": "parent"}))
    pool = hub.pool("db")
    with pool.connection() as across:  # checked out across the fork, returned in both processes
        child = os.fork()
        if child == 0:
            status = 1
            try:
                fresh = pool.stats().used == 0  # the child's pool: the checkout across the fork is not its own
                # unused in the child so far: no maintenance thread, nothing opened
                quiet = not any(t.name == "dbplex-pool:db" for t in threading.enumerate())
                quiet = quiet and pool.stats().size == 0
                with pool.connection() as mine:
                    own = mine is not across
                    value = mine.execute("SELECT count(*) FROM dbplex_records").fetchone()[0]
                status = 0 if fresh and quiet and own and value == 1 else 2
            except BaseException:
                traceback.print_exc(file=sys.stderr)
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0  # 2: the child saw or used the parent's connections
    stats = pool.stats()
    assert (stats.used, stats.created) == (0, 1)  # the parent's pool is untouched by the child
    with pool.connection() as again:
        assert again is across
