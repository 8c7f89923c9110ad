"""The health check of a MongoDB source: ``hello`` and ``buildInfo`` through its pool."""

from __future__ import annotations

from dbplex.backends import Source
from dbplex.health import Health, Status
from dbplex.pool import Pool, PoolStats
from dbplex_mongo.conn import resolve
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.pool import BACKEND
from dbplex_mongo.server import ServerInfo


def check(source: Source, pool: Pool) -> Health:
    """UP with the server's version and topology; raises SourceUnavailable when unreachable.

    Each command waits at most the source's connect timeout for a usable server.
    """
    try:
        with pool.connection() as native:
            info = resolve(native, source).server.refresh()
    except DRIVER_ERRORS as exc:
        raise translate(source, exc, "checking health") from exc
    return shape(source, pool.stats(), info)


def shape(source: Source, stats: PoolStats, info: ServerInfo) -> Health:
    """UP with the server's version and topology; shared with the asyncio check."""
    details: dict[str, object] = {"topology": info.topology, "server": info.product, "address": info.address}
    if info.replica_set:
        details["replica_set"] = info.replica_set
    return Health(
        source=source.name,
        backend=BACKEND,
        status=Status.UP,
        server_version=info.version,
        pool=stats,
        details=details,
    )
