"""The health check of a MongoDB source: ``hello``, ``buildInfo``, ``serverStatus`` and ``dbStats`` through its pool.

Resources (:class:`dbplex.health.Resources`) come from ``serverStatus`` (``connections``,
``mem.resident``, ``opcounters``, the WiredTiger cache's pages requested and read into it) and
``dbStats`` of the source's database (``totalSize``: data and indexes on disk). A server that
lacks a section leaves its fields None: the sandbox's stand-in (``nx-27017``) reports only
connections and memory, and its memory in bytes where ``mongod`` reports MiB, so its memory is
kept in ``extra`` only (``memory_bytes`` is read from ``mongod`` and ``mongos``). On a replica
set member, ``replSetGetStatus`` gives the lag: how far each member's last applied write
(``optimeDate``) trails the primary's, as a secondary's own ``lag_seconds`` and, on the primary,
per secondary in ``replica_lag_seconds`` (a role without ``clusterMonitor`` leaves both unset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import OperationFailure

from dbplex.backends import Source
from dbplex.health import Health, Resources, Status
from dbplex.pool import Pool, PoolStats
from dbplex_mongo.conn import resolve
from dbplex_mongo.errors import DRIVER_ERRORS, translate
from dbplex_mongo.pool import BACKEND
from dbplex_mongo.server import ServerInfo

log = logging.getLogger(__name__)

_MIB = 1 << 20
_PRIMARY, _SECONDARY = 1, 2  # replSetGetStatus member states


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def replication_lag(repl_status: dict[str, Any]) -> tuple[float | None, dict[str, float]]:
    """From a ``replSetGetStatus`` reply: this member's lag behind the primary (None unless it is a
    secondary) and, when it is the primary, each secondary's lag by its ``host:port``.

    Members without an ``optimeDate`` (arbiters, members down) are left out; a lag is never negative
    (a secondary's optime may be read a moment after the primary's).
    """
    members = [m for m in repl_status.get("members") or () if isinstance(m.get("optimeDate"), datetime)]
    primary = next((m for m in members if m.get("state") == _PRIMARY), None)
    if primary is None:
        return None, {}

    def behind(member: dict[str, Any]) -> float:
        gap: timedelta = primary["optimeDate"] - member["optimeDate"]
        return max(0.0, gap.total_seconds())

    me = next((m for m in members if m.get("self")), None)
    own = behind(me) if me is not None and me.get("state") == _SECONDARY else None
    others = {str(m["name"]): behind(m) for m in members if m.get("state") == _SECONDARY} if me is primary else {}
    return own, others


def server_resources(
    status: dict[str, Any], db_stats: dict[str, Any], replica_lag: dict[str, float] | None = None
) -> Resources:
    """The resources part of ``serverStatus`` and ``dbStats`` replies (what they lack stays None)."""
    connections = status.get("connections") or {}
    current, available, active = (_int(connections.get(k)) for k in ("current", "available", "active"))
    by_state = {"active": active, "idle": current - active} if current is not None and active is not None else {}
    mem = status.get("mem") or {}
    resident = _int(mem.get("resident"))
    cache = (status.get("wiredTiger") or {}).get("cache") or {}
    requested, read = _int(cache.get("pages requested from the cache")), _int(cache.get("pages read into cache"))
    size = _int(db_stats.get("totalSize"))
    if size is None and _int(db_stats.get("storageSize")) is not None:
        size = int(db_stats["storageSize"]) + (_int(db_stats.get("indexSize")) or 0)
    extra: dict[str, Any] = {
        k: v
        for k in ("collections", "objects", "dataSize", "indexes", "indexSize")
        if (v := _int(db_stats.get(k))) is not None
    }
    mongod = status.get("process") in ("mongod", "mongos")
    if mem and not mongod:
        extra["mem"] = {k: v for k, v in mem.items() if _int(v) is not None}
    network = status.get("network") or {}
    extra.update(
        {f"network_{k}": v for k in ("bytesIn", "bytesOut", "numRequests") if (v := _int(network.get(k))) is not None}
    )
    return Resources(
        connections=current,
        connections_by_state=by_state,
        connections_max=current + available if current is not None and available is not None else None,
        database_bytes=size,
        memory_bytes=resident * _MIB if resident is not None and mongod else None,
        cache_hits=requested - read if requested is not None and read is not None else None,
        cache_misses=read if requested is not None else None,
        operations={k: n for k, v in (status.get("opcounters") or {}).items() if (n := _int(v)) is not None},
        replica_lag_seconds=replica_lag or {},
        extra=extra,
    )


def _optional(command: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A command's reply, or nothing when the server refuses it (a role without ``clusterMonitor``,
    a server without the command): resources are read as far as allowed."""
    try:
        return command()
    except OperationFailure as exc:
        log.debug("resources not read: %s", exc)
        return {}


def check(source: Source, pool: Pool) -> Health:
    """UP with the server's version, topology and resources; raises SourceUnavailable when unreachable.

    Each command waits at most the source's connect timeout for a usable server.
    """
    try:
        with pool.connection() as native:
            conn = resolve(native, source)
            info = conn.server.refresh()
            status = _optional(
                lambda: conn.database.client.admin.command({"serverStatus": 1, "locks": 0, "metrics": 0})
            )
            db_stats = _optional(lambda: conn.database.command("dbStats"))
            repl = _optional(lambda: conn.database.client.admin.command("replSetGetStatus")) if info.replica_set else {}
    except DRIVER_ERRORS as exc:
        raise translate(source, exc, "checking health") from exc
    lag, replica_lag = replication_lag(repl)
    return shape(source, pool.stats(), info, server_resources(status, db_stats, replica_lag), lag)


def shape(
    source: Source,
    stats: PoolStats,
    info: ServerInfo,
    resources: Resources | None = None,
    lag_seconds: float | None = None,
) -> Health:
    """UP with the server's version, topology, lag and resources when read; shared with the asyncio check."""
    details: dict[str, object] = {"topology": info.topology, "server": info.product, "address": info.address}
    if info.replica_set:
        details["replica_set"] = info.replica_set
    return Health(
        source=source.name,
        backend=BACKEND,
        status=Status.UP,
        server_version=info.version,
        lag_seconds=lag_seconds,
        pool=stats,
        resources=resources,
        details=details,
    )
