"""The health check of a Redis Cluster source: every master of the slot map asked on its own.

UP when every master answers and reports ``cluster_state:ok``; DEGRADED when some master does
not answer or reports a problem (the slots of the others still work); DOWN (SourceUnavailable)
when none answers. ``details["nodes"]`` lists each master with its share of the slots and its
state. The slot map is read again first (rate-limited), so a replica promoted since is listed.
"""

from __future__ import annotations

from typing import Any

from dbplex.backends import Source
from dbplex.errors import SourceUnavailable
from dbplex.health import Health, Status
from dbplex.pool import Pool
from dbplex_redis.cluster_map import Node
from dbplex_redis.cluster_pool import RedisClusterPool
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.health import ask
from dbplex_redis.translate import parse_info


def _node(source: Source, pool: RedisClusterPool, node: Node, slots: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"node": node.name, "role": "primary", "slots": slots}
    try:
        with pool.pool_of(node).connection() as client:
            info, cluster = ask(source, client, [("INFO", "server"), ("CLUSTER", "INFO")])
    except SourceUnavailable as exc:
        return {**entry, "state": "down", "error": str(exc).removeprefix(f"source {source.name!r}: ")}
    if not isinstance(info, Exception):
        entry["version"] = parse_info(info).get("redis_version")
    state = "?" if isinstance(cluster, Exception) else parse_info(cluster).get("cluster_state", "?")
    return {**entry, "state": "up", "cluster_state": state}


def check(source: Source, pool: Pool) -> Health:
    with pool.connection() as client:
        cluster = client.pool
    cluster.refresh()
    slots = cluster.slot_map.slot_counts()
    nodes = [_node(source, cluster, node, count) for node, count in slots.items()]
    if not nodes:
        raise RedisSourceUnavailable(f"source {source.name!r}: the slot map names no master now")
    down = [n for n in nodes if n["state"] == "down"]
    if len(down) == len(nodes):
        raise RedisSourceUnavailable(f"source {source.name!r}: no node of the cluster answered ({down[0]['error']})")
    unwell = [n for n in nodes if n["state"] == "up" and n["cluster_state"] != "ok"]
    problems = [f"{n['node']} down ({n['slots']} slots unavailable)" for n in down]
    problems += [f"{n['node']} reports cluster_state:{n['cluster_state']}" for n in unwell]
    # None when every node that answered refused INFO (an ACL without it): UP all the same
    version = next((n["version"] for n in nodes if n["state"] == "up" and n.get("version")), None)
    return Health(
        source=source.name,
        backend=source.backend,
        status=Status.DEGRADED if problems else Status.UP,
        server_version=version,
        pool=pool.stats(),
        error="; ".join(problems) or None,
        details={"mode": "cluster", "nodes": nodes},
    )
