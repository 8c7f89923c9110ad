"""The primary stopped and restarted during a write workload.

The writers retry in a tight loop, and while the server is down the pool fails each checkout at
once (hundreds of thousands of failures in a few seconds): the test checks every failure as it
happens and keeps a bounded sample, so that the process's peak memory, which it reports and
bounds, shows what the pool keeps (nothing per failure), not what the test keeps.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import SourceUnavailable
from tests.faults.conftest import eventually, figure, restart_if_stopped

SAMPLE = 10_000
POOL_TIMEOUT = 2.0
CONNECT_TIMEOUT = 2.0
RECONNECT_MAX = 2.0


def test_primary_restarted_mid_writes(drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]) -> None:
    hub = open_hub(
        {
            "pg": {
                "url": drill.server("pg").url,
                "connect_timeout": CONNECT_TIMEOUT,
                "pool": {"min_size": 2, "max_size": 4, "timeout": POOL_TIMEOUT, "reconnect_max": RECONNECT_MAX},
            }
        }
    )
    acknowledged: list[str] = []
    failures: list[tuple[float, type[BaseException], str]] = []  # a sample: the first SAMPLE
    failed = [0]
    slowest = [0.0]
    wrong: list[str] = []  # failures that broke the rules below
    last_ok = [0.0]
    stop = threading.Event()

    def write_loop(worker: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"w{worker}-{i}"
            started = time.monotonic()
            try:
                hub.execute("pg", Put("primary_restart", key, {"i": i}))
            except Exception as exc:  # every failure is checked; a sample is kept
                elapsed = time.monotonic() - started
                failed[0] += 1
                slowest[0] = max(slowest[0], elapsed)
                # fail fast: never past the pool wait plus one connection attempt (a generous bound, not a figure)
                ok = isinstance(exc, SourceUnavailable) and "source 'pg'" in str(exc)
                if not ok or elapsed >= POOL_TIMEOUT + CONNECT_TIMEOUT + 1.0:
                    wrong.append(f"{elapsed:.3f}s {exc!r}")
                if len(failures) < SAMPLE:
                    failures.append((elapsed, type(exc), str(exc)))
            else:
                acknowledged.append(key)
                last_ok[0] = time.monotonic()
            i += 1

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
        # the bound: the next attempt comes within reconnect_max (2 s) of the server
        # accepting; 1 s more for a loaded machine
        assert recovered < RECONNECT_MAX + 1.0, f"recovered {recovered:.2f}s after the primary accepted connections"
        count = len(acknowledged)
        eventually(lambda: len(acknowledged) > count + 100, 10, "the pool keeps serving writes")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        restart_if_stopped(drill, "pg")
    assert failed[0] and not wrong, wrong[:5]
    figure("slowest failed write during the outage", slowest[0])
    figure("failed writes during the outage", failed[0], "writes")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before  # KiB on Linux
    figure("peak memory growth of the test process during the drill", grown / 1024, "MiB")
    assert grown < 256 * 1024  # a generous bound: failing fast keeps nothing per failure
    for key in acknowledged:  # every acknowledged write survived the restart
        assert hub.execute("pg", Get("primary_restart", key)).rows, key
    print("\nerrors seen:", sorted({message.split(":")[1] for _, _, message in failures}))
