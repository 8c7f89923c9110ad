"""A Redis Cluster master stopped and restarted during a workload on every node's slots.

The sandbox cluster has three masters and no replicas, so the stopped master's slots have no one
to serve them until it is back: ops on them fail fast with SourceUnavailable, ops on the other
masters' slots go on without an error (the nodes run with ``cluster-require-full-coverage no``),
and its slots serve again once it has restarted.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, Status, sandbox
from dbplex.errors import SourceUnavailable
from dbplex_redis import Pipeline
from tests.faults.conftest import eventually, figure, restart_if_stopped

CONNECT_TIMEOUT = 1.0
VICTIM = "redis-cluster2"


@pytest.fixture(scope="module")
def cluster_drill() -> Iterator[sandbox.Sandbox]:
    directory = Path(tempfile.mkdtemp(prefix="dbplex-faults-cluster-")) / "sb"
    try:
        yield sandbox.up(directory, servers=(), redis_cluster=3)
    finally:
        sandbox.down(directory)
        shutil.rmtree(directory.parent, ignore_errors=True)


def _tables_by_node(hub: dbplex.Hub, per_node: int) -> dict[str, list[str]]:
    """Table names grouped by the node that serves their slot (``host:port``), ``per_node`` each."""
    found: dict[str, list[str]] = {}
    with hub.connection("c") as client:
        for i in range(1000):
            table = f"node_restart_{i}"
            node = client.node_for(f"{{{table}}}")
            if len(found.setdefault(node, [])) < per_node:
                found[node].append(table)
    return found


class Workload:
    """Threads writing and reading records of their table; every outcome is kept for the checks."""

    def __init__(self, hub: dbplex.Hub) -> None:
        self.hub = hub
        self.stop = threading.Event()
        self.acknowledged: dict[str, list[str]] = {}
        self.failures: dict[str, list[tuple[float, BaseException]]] = {}
        #: when the first op failed (time.monotonic()), 0 before.
        self.first_failure = 0.0
        self.last_ok: dict[str, float] = {}
        self.threads: list[threading.Thread] = []

    def start(self, table: str) -> None:
        self.acknowledged[table], self.failures[table], self.last_ok[table] = [], [], 0.0
        thread = threading.Thread(target=self._loop, args=(table,))
        self.threads.append(thread)
        thread.start()

    def _loop(self, table: str) -> None:
        i = 0
        while not self.stop.is_set():
            key, started = f"k{i}", time.monotonic()
            try:
                self.hub.execute("c", Put(table, key, {"i": i}))
                assert self.hub.execute("c", Get(table, key)).one()["values"] == {"i": i}
            except Exception as exc:  # every failure is kept and checked by the test
                self.first_failure = self.first_failure or time.monotonic()
                self.failures[table].append((time.monotonic() - started, exc))
                time.sleep(0.01)  # a refused connection fails at once: do not spin
            else:
                self.acknowledged[table].append(key)
                self.last_ok[table] = time.monotonic()
            i += 1

    def done(self, tables: list[str]) -> int:
        return sum(len(self.acknowledged[t]) for t in tables)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_cluster_node_restarted_mid_workload(
    cluster_drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    url = cluster_drill.urls["redis_cluster"]
    hub = open_hub({"c": {"url": url, "connect_timeout": CONNECT_TIMEOUT, "pool": {"max_size": 4, "timeout": 2}}})
    victim = f"127.0.0.1:{cluster_drill.server(VICTIM).port}"
    by_node = _tables_by_node(hub, per_node=2)
    assert victim in by_node and len(by_node) == 3
    on_victim = by_node[victim]
    elsewhere = [table for node, tables in by_node.items() if node != victim for table in tables]
    work = Workload(hub)
    for table in on_victim + elsewhere:
        work.start(table)
    try:
        eventually(lambda: work.done(elsewhere) > 400 and work.done(on_victim) > 100, 20, "ops before the outage")
        stopped = time.monotonic()
        sandbox.stop_server(cluster_drill.directory, VICTIM)
        eventually(lambda: work.first_failure, 10, "ops on its slots fail")
        figure("master told to stop -> first failed op on its slots", work.first_failure - stopped)
        before = work.done(elsewhere)
        time.sleep(3.0)  # past cluster-node-timeout (2 s): the other masters mark it failed
        check = hub.health().sources[0]
        assert check.status is Status.DEGRADED and check.error and victim in check.error, check.error
        states = {node["node"]: node["state"] for node in check.details["nodes"]}
        assert states.pop(victim) == "down" and set(states.values()) == {"up"}
        during = work.done(elsewhere) - before
        fresh = open_hub({"c": {"url": url, "connect_timeout": CONNECT_TIMEOUT}})  # opens with a master down
        assert fresh.execute("c", Put(elsewhere[0], "fresh", {"a": 1})).affected == 1
        assert fresh.health().sources[0].status is Status.DEGRADED
        spanning = Pipeline([["SET", f"{{{table}}}:p", 1] for table in elsewhere + on_victim], transaction=False)
        with pytest.raises(SourceUnavailable, match=victim):
            fresh.execute("c", spanning)
        figure("ops on the other masters' slots in 3 s of the outage (none failed)", during, "ops")
        sandbox.start_server(cluster_drill.directory, VICTIM)  # returns once its cluster serves every slot
        serving = time.monotonic()
        figure("master stopped -> restarted and serving (sandbox stop, 3 s, start)", serving - stopped)
        recovered = eventually(
            # bounded by the pool's reconnection backoff (reconnect_max, 10 s by default) plus slack
            lambda: all(work.last_ok[t] > serving for t in on_victim),
            20,
            "its slots serve the workload again",
        )
        figure("master serving again -> ops on its slots succeed", recovered)
        count = work.done(on_victim)
        eventually(lambda: work.done(on_victim) > count + 100, 10, "its slots keep serving")
    finally:
        work.join()
        restart_if_stopped(cluster_drill, VICTIM)
    assert during > 0
    for table in elsewhere:
        assert work.failures[table] == [], (table, work.failures[table][:3])
    for table in on_victim:  # liveness: each op failed and the worker went on, none hung out the outage
        assert len(work.failures[table]) >= 2, (table, work.failures[table])
    failures = [failure for table in on_victim for failure in work.failures[table]]
    for _, exc in failures:
        assert isinstance(exc, SourceUnavailable), repr(exc)
        assert str(exc).startswith("source 'c': ") and victim in str(exc), str(exc)
    figure("slowest failed op on the stopped master's slots", max(elapsed for elapsed, _ in failures))
    figure("failed ops on its slots during the outage", len(failures), "ops")
    assert hub.health().sources[0].status is Status.UP
    for table, keys in work.acknowledged.items():  # every acknowledged write is there (no persistence: see docs)
        if table in elsewhere:
            assert all(hub.execute("c", Get(table, key)).rows for key in keys), table
    print("\nerrors seen:", sorted({str(exc).split(": ", 2)[1] for _, exc in failures}))
