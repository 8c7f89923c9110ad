"""The health check of a Redis Cluster source: every node asked on its own.

UP when every node answers and reports ``cluster_state:ok``; DEGRADED when some node does not
answer or reports a problem (the slots of the others still work); DOWN (SourceUnavailable)
when no node answers. ``details["nodes"]`` lists each node with its role, its share of the
slots and its state.
"""

from __future__ import annotations

from typing import Any

from dbplex.backends import Source
from dbplex.errors import SourceUnavailable
from dbplex.health import Health, Status
from dbplex.pool import Pool
from dbplex_redis.cluster_pool import ClusterClient
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.health import ask
from dbplex_redis.translate import parse_info


def _slot_counts(client: ClusterClient) -> dict[str, int]:
    """How many slots each node serves as primary, from the client's slot map."""
    counts: dict[str, int] = {}
    for nodes in client.nodes_manager.slots_cache.values():
        counts[nodes[0].name] = counts.get(nodes[0].name, 0) + 1
    return counts


def _node(source: Source, node: Any, redis_pool: Any, slots: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"node": node.name, "role": node.server_type, "slots": slots}
    try:
        info, cluster = ask(source, redis_pool, [("INFO", "server"), ("CLUSTER", "INFO")])
    except SourceUnavailable as exc:
        return {**entry, "state": "down", "error": str(exc).removeprefix(f"source {source.name!r}: ")}
    if not isinstance(info, Exception):
        entry["version"] = parse_info(info).get("redis_version")
    state = "?" if isinstance(cluster, Exception) else parse_info(cluster).get("cluster_state", "?")
    return {**entry, "state": "up", "cluster_state": state}


def check(source: Source, pool: Pool) -> Health:
    with pool.connection() as client:
        slots = _slot_counts(client)
        nodes = [_node(source, node, redis_pool, slots.get(node.name, 0)) for node, redis_pool in client.node_pools()]
    if not nodes:  # a slot map without nodes (not seen from redis-py, but never an IndexError)
        raise RedisSourceUnavailable(f"source {source.name!r}: the client knows no node of the cluster")
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
