"""The health of a PostgreSQL source: one round trip that also tells a primary from a replica."""

from __future__ import annotations

import psycopg

from dbplex.backends import Source
from dbplex.health import Health, Status
from dbplex.pool import Pool
from dbplex_pg.errors import query_failure


def check(source: Source, pool: Pool) -> Health:
    """UP with the server version, role and database; an unreachable server raises."""
    with pool.connection() as conn:
        try:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error as exc:
            raise query_failure(source.name, conn, exc) from exc
        info = conn.info
        details = {"role": "replica" if row and row[0] else "primary", "database": info.dbname, "user": info.user}
        version = info.parameter_status("server_version")
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.UP,
        server_version=version,
        pool=pool.stats(),
        details=details,
    )
