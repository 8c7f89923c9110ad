"""A replica stopped during a read workload: reads fall back without failing, and come back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import DbplexError
from tests.faults.conftest import eventually, figure, restart_if_stopped

READERS = 4


def test_replica_stopped_mid_workload(drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]) -> None:
    primary, replica = drill.server("pg"), drill.server("pg-replica1")
    hub = open_hub(
        {
            "pg": {
                "url": primary.url,
                "replicas": [replica.url],
                "connect_timeout": 2,
                "pool": {"max_size": READERS},
                "routing": {"lag_check_interval": 0.2, "breaker": {"failures": 2, "reset_after": 0.5}},
            }
        }
    )
    for i in range(20):
        hub.execute("pg", Put("replica_outage", f"k{i}", {"n": i}))
    router = hub._bound["pg"].router
    assert router is not None
    the_replica = router.replicas[0]
    eventually(lambda: hub.execute("pg", Get("replica_outage", "k19")).rows, 10, "the replica caught up")

    reads, failures = [0], []
    stop = threading.Event()

    def read_loop() -> None:
        i = 0
        while not stop.is_set():
            try:
                row = hub.execute("pg", Get("replica_outage", f"k{i % 20}")).one()
                assert row["values"] == {"n": i % 20}
                reads[0] += 1
            except (DbplexError, AssertionError) as exc:
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=read_loop) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: reads[0] > 200, 10, "reads on the replica")
        before = the_replica.pool.stats().acquired  # type: ignore[union-attr]
        assert before > 0
        sandbox.stop_server(drill.directory, "pg-replica1")
        stopped = time.monotonic()
        figure("replica stop -> breaker open", eventually(lambda: not the_replica.breaker.closed, 10, "breaker opens"))
        fallbacks = router.fallbacks
        eventually(lambda: router.fallbacks > fallbacks + 200, 10, "reads served by the primary")
        outage = time.monotonic() - stopped
        sandbox.start_server(drill.directory, "pg-replica1")
        back_on = the_replica.pool.stats().acquired if the_replica.pool else 0  # type: ignore[union-attr]
        returned = eventually(
            lambda: (
                the_replica.breaker.closed
                and the_replica.pool is not None
                and the_replica.pool.stats().acquired > back_on
            ),
            5,
            "reads return to the replica within 5 s of its restart",
        )
        figure("replica restart -> reads on the replica again", returned)
        figure("replica outage length", outage)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        restart_if_stopped(drill, "pg-replica1")
    assert failures == []
    assert the_replica.breaker.trips >= 1
    figure("reads during the drill (none failed)", reads[0], "reads")
