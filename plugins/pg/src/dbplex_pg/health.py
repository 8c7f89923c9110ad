"""The health of a PostgreSQL source: one round trip that also tells a primary from a replica.

A replica's lag is 0 when it has replayed everything the primary has written, as far as it
knows; otherwise the age of the last transaction it replayed. What the primary has written is
the WAL end its WAL sender last reported (``pg_stat_wal_receiver.latest_end_lsn``: the sender
reports it with its data and its keepalives, so an idle primary keeps it current). That view
shows its positions only to superusers and ``pg_read_all_stats``; for other roles the last WAL
position the replica received stands in for it. Both are compared with ``>=``, not ``=``: after
a replica restarts, its receive position starts again at the beginning of the WAL segment it
resumes streaming from, behind what it already replayed, until the primary writes again.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import ConnectionInfo

from dbplex.backends import Source
from dbplex.health import Health, Status
from dbplex.pool import Pool, PoolStats
from dbplex_pg import deadline
from dbplex_pg.errors import query_failure

ROLE_AND_LAG = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_replay_lsn() >= COALESCE(
                (SELECT latest_end_lsn FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                pg_last_wal_receive_lsn()) THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
"""


def check(source: Source, pool: Pool) -> Health:
    """UP with the server version, role and database; an unreachable server raises."""
    with pool.connection() as conn:
        deadline.begin(conn)
        try:
            row = conn.execute(ROLE_AND_LAG).fetchone()
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
        details=details,
    )
