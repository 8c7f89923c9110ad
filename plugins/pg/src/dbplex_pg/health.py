"""The health of a PostgreSQL source: one round trip that also tells a primary from a replica.

A replica's lag is 0 when it has replayed everything the primary has written, as far as it
knows; otherwise the age of the last transaction it replayed. What the primary has written is
the WAL end its WAL sender last reported (``pg_stat_wal_receiver.latest_end_lsn``: the sender
reports it with its data and its keepalives, so an idle primary keeps it current). That view
shows its positions only to superusers and ``pg_read_all_stats``; for other roles the last WAL
position the replica received stands in for it. Both are compared with ``>=``, not ``=``: after
a replica restarts, its receive position starts again at the beginning of the WAL segment it
resumes streaming from, behind what it already replayed, until the primary writes again.

The same round trip reads the server's resources (:class:`dbplex.health.Resources`): client
connections by ``pg_stat_activity.state`` (NULL, for another role's session that this role may
not see, counts as ``unknown``), ``max_connections``, ``pg_database_size`` of the connected
database, its ``pg_stat_database`` counters (buffer hits and reads, commits and rollbacks, rows),
and on a primary each streaming replica's ``replay_lag`` (NULL once it has caught up: 0).
PostgreSQL reports no memory figure for the whole server, so ``memory_bytes`` stays None.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import ConnectionInfo

from dbplex.backends import Source
from dbplex.health import Health, Resources, Status
from dbplex.pool import Pool, PoolStats
from dbplex_pg import deadline
from dbplex_pg.errors import query_failure

ROLE_LAG_AND_RESOURCES = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_replay_lsn() >= COALESCE(
                (SELECT latest_end_lsn FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                pg_last_wal_receive_lsn()) THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END,
       (SELECT json_object_agg(state, n) FROM (
            SELECT COALESCE(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity
            WHERE backend_type = 'client backend' GROUP BY 1) AS states),
       current_setting('max_connections')::int,
       pg_database_size(current_database()),
       (SELECT json_build_object(
            'blks_hit', blks_hit, 'blks_read', blks_read, 'xact_commit', xact_commit,
            'xact_rollback', xact_rollback, 'tup_returned', tup_returned, 'tup_fetched', tup_fetched,
            'tup_inserted', tup_inserted, 'tup_updated', tup_updated, 'tup_deleted', tup_deleted,
            'deadlocks', deadlocks, 'conflicts', conflicts, 'temp_bytes', temp_bytes)
        FROM pg_stat_database WHERE datname = current_database()),
       (SELECT json_object_agg(COALESCE(host(client_addr), 'local') || ':' || COALESCE(client_port, -1),
                               COALESCE(EXTRACT(EPOCH FROM replay_lag), 0))
        FROM pg_stat_replication WHERE state = 'streaming')
"""


def resources(row: tuple[Any, ...]) -> Resources:
    """The resources part of the health query's row."""
    states, most, size, stats, replicas = row[2:7]
    stats = stats or {}
    return Resources(
        connections=sum(states.values()) if states else 0,
        connections_by_state=states or {},
        connections_max=most,
        database_bytes=size,
        cache_hits=stats.get("blks_hit"),
        cache_misses=stats.get("blks_read"),
        operations={"commit": stats["xact_commit"], "rollback": stats["xact_rollback"]} if stats else {},
        replica_lag_seconds={name: float(lag) for name, lag in (replicas or {}).items()},
        extra={k: v for k, v in stats.items() if k not in ("blks_hit", "blks_read", "xact_commit", "xact_rollback")},
    )


def check(source: Source, pool: Pool) -> Health:
    """UP with the server version, role, database and resources; an unreachable server raises."""
    with pool.connection() as conn:
        deadline.begin(conn)
        try:
            row = conn.execute(ROLE_LAG_AND_RESOURCES).fetchone()
        except psycopg.Error as exc:
            if conn.timed_out:
                raise deadline.timed_out(source.name, conn.state.bound) from exc
            raise query_failure(source.name, conn, exc) from exc
        finally:
            deadline.end(conn)
        info = conn.info
    return shape(source, pool.stats(), info, row)


def shape(source: Source, stats: PoolStats, info: ConnectionInfo, row: tuple[Any, ...] | None) -> Health:
    """UP with the server version, role, lag and database, from the connection's info and the
    answer to the role-and-lag query; shared with the asyncio check."""
    replica = bool(row and row[0])
    details = {"role": "replica" if replica else "primary", "database": info.dbname, "user": info.user}
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.UP,
        server_version=info.parameter_status("server_version"),
        pool=stats,
        lag_seconds=float(row[1]) if replica and row and row[1] is not None else None,
        resources=resources(row) if row else None,
        details=details,
    )
