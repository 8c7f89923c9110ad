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
from dbplex.pool import Pool, PoolStats
from dbplex_redis.cluster_map import Node
from dbplex_redis.cluster_pool import RedisClusterPool
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.health import ask
from dbplex_redis.translate import parse_info

#: what each master is asked, in one round trip: its version and its view of the cluster.
NODE_COMMANDS: list[tuple[Any, ...]] = [("INFO", "server"), ("CLUSTER", "INFO")]


def node_entry(source: Source, node: Node, slots: int, asked: list[Any] | SourceUnavailable) -> dict[str, Any]:
    """A master's line in ``details["nodes"]``, from its replies to :data:`NODE_COMMANDS` (or why it did not answer)."""
    entry: dict[str, Any] = {"node": node.name, "role": "primary", "slots": slots}
    if isinstance(asked, SourceUnavailable):
        return {**entry, "state": "down", "error": str(asked).removeprefix(f"source {source.name!r}: ")}
    info, cluster = asked
    if not isinstance(info, Exception):
        entry["version"] = parse_info(info).get("redis_version")
    state = "?" if isinstance(cluster, Exception) else parse_info(cluster).get("cluster_state", "?")
    return {**entry, "state": "up", "cluster_state": state}


def _node(source: Source, pool: RedisClusterPool, node: Node, slots: int) -> dict[str, Any]:
    try:
        with pool.pool_of(node).connection() as client:
            asked: list[Any] | SourceUnavailable = ask(source, client, NODE_COMMANDS)
    except SourceUnavailable as exc:
        asked = exc
    return node_entry(source, node, slots, asked)


def check(source: Source, pool: Pool) -> Health:
    with pool.connection() as client:
        cluster = client.pool
    cluster.refresh()
    slots = cluster.slot_map.slot_counts()
    return summary(source, pool.stats(), [_node(source, cluster, node, count) for node, count in slots.items()])


def summary(source: Source, stats: PoolStats, nodes: list[dict[str, Any]]) -> Health:
    """UP, DEGRADED or (raised) DOWN from every master's entry."""
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
        pool=stats,
        error="; ".join(problems) or None,
        details={"mode": "cluster", "nodes": nodes},
    )
