"""The primary stopped and restarted during a write workload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import SourceUnavailable
from tests.faults.conftest import eventually, figure, restart_if_stopped

POOL_TIMEOUT = 2.0
CONNECT_TIMEOUT = 2.0


def test_primary_restarted_mid_writes(drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]) -> None:
    hub = open_hub(
        {
            "pg": {
                "url": drill.server("pg").url,
                "connect_timeout": CONNECT_TIMEOUT,
                "pool": {"min_size": 2, "max_size": 4, "timeout": POOL_TIMEOUT},
            }
        }
    )
    acknowledged: list[str] = []
    failures: list[tuple[float, BaseException]] = []
    last_ok = [0.0]
    stop = threading.Event()

    def write_loop(worker: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"w{worker}-{i}"
            started = time.monotonic()
            try:
                hub.execute("pg", Put("primary_restart", key, {"i": i}))
            except Exception as exc:  # every failure is kept and checked below
                failures.append((time.monotonic() - started, exc))
            else:
                acknowledged.append(key)
                last_ok[0] = time.monotonic()
            i += 1

    threads = [threading.Thread(target=write_loop, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(acknowledged) > 200, 10, "writes before the outage")
        sandbox.stop_server(drill.directory, "pg")
        eventually(lambda: failures, 10, "writes fail while the primary is down")
        time.sleep(POOL_TIMEOUT + 1.0)  # longer than a writer waits for a connection
        sandbox.start_server(drill.directory, "pg")  # returns once postgres accepts connections
        accepting = time.monotonic()
        recovered = eventually(lambda: last_ok[0] > accepting, 30, "writes succeed again")
        figure("primary accepting connections -> first acknowledged write", recovered)
        count = len(acknowledged)
        eventually(lambda: len(acknowledged) > count + 100, 10, "the pool keeps serving writes")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        restart_if_stopped(drill, "pg")
    assert failures
    for elapsed, exc in failures:
        assert isinstance(exc, SourceUnavailable), repr(exc)
        assert "source 'pg'" in str(exc)
        # fail fast: never past the pool wait plus one connection attempt (a generous bound, not a figure)
        assert elapsed < POOL_TIMEOUT + CONNECT_TIMEOUT + 1.0, (elapsed, str(exc))
    figure("slowest failed write during the outage", max(elapsed for elapsed, _ in failures))
    figure("failed writes during the outage", len(failures), "writes")
    for key in acknowledged:  # every acknowledged write survived the restart
        assert hub.execute("pg", Get("primary_restart", key)).rows, key
    print("\nerrors seen:", sorted({str(exc).split(":")[1] for _, exc in failures}))
