"""A replica restarted while its primary is idle: caught up, so lag 0 and back in the rotation.

After a restart a replica's receive position starts again at the beginning of a WAL segment,
behind what it already replayed; on an idle primary it stays there until the primary writes.
Lag must still be measured against what the primary has written, not fall back to the age of
the last replayed transaction (which only grows while nothing is written).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

import dbplex
from dbplex import Put, sandbox
from tests.faults.conftest import eventually, figure, restart_if_stopped
from tests.faults.test_routing import port_of, routed_hub

MAX_LAG = 1.0


def test_a_restarted_replica_of_an_idle_primary_has_no_lag(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = routed_hub(drill, open_hub, max_lag=MAX_LAG, lag_check_interval=0.1, breaker={"reset_after": 0.2})
    replica = drill.server("pg-replica1").port

    def replica_lag() -> float | None:
        return hub.health(["pg"]).sources[0].replicas[0].lag_seconds

    hub.execute("pg", Put("replica_restart", "k", {"n": 1}))  # the primary's last write
    eventually(lambda: replica_lag() == 0, 10, "the replica replays the write")
    try:
        sandbox.stop_server(drill.directory, "pg-replica1")
        sandbox.start_server(drill.directory, "pg-replica1")
    finally:
        restart_if_stopped(drill, "pg-replica1")
    started = time.monotonic()
    time.sleep(MAX_LAG)  # the last replayed transaction is now older than max_lag: its age is no measure
    eventually(lambda: caught_up(drill), 30, "the restarted replica streams and has replayed all the primary wrote")
    # caught up a moment ago (had the primary written since, even the old check would say 0)
    assert replica_lag() == 0
    figure("replica started -> lag 0 (includes a 1 s pause)", time.monotonic() - started)
    eventually(lambda: port_of(hub, read=True) == replica, 10, "reads return to the restarted replica")
    figure("replica started -> a read on it again (includes a 1 s pause)", time.monotonic() - started)


def caught_up(drill: sandbox.Sandbox) -> bool:
    """The ground truth, asked of both servers: streaming, and replayed up to the primary's WAL end."""
    with psycopg.connect(drill.server("pg").url) as primary:
        written = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    with psycopg.connect(drill.server("pg-replica1").url) as replica:
        row = replica.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')",
            [written[0] if written else None],
        ).fetchone()
    return bool(row and row[0] and row[1])
