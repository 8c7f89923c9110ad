"""Pure: the slot map of a Redis Cluster, read from a node's ``CLUSTER SLOTS`` reply.

dbplex keeps the map itself (redis-py's cluster client keeps its own in undocumented
attributes): it asks a node ``CLUSTER SLOTS`` (every Redis release with cluster mode answers
it) when the source opens and after a redirection, and routes each op to the master serving
its key's slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dbplex_redis.cluster_slots import SLOTS
from dbplex_redis.cluster_url import netloc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Node:
    host: str
    port: int

    @property
    def name(self) -> str:
        """``host:port`` (an IPv6 address in brackets), as redirections and messages name a node."""
        return netloc(self.host, self.port)


@dataclass
class SlotMap:
    """Which master serves each slot (None: no node), and each master's replicas."""

    owners: list[Node | None] = field(default_factory=lambda: [None] * SLOTS)
    replicas: dict[Node, set[Node]] = field(default_factory=dict)

    @property
    def masters(self) -> list[Node]:
        """Every master serving a slot, in the order of their first slot."""
        return list(dict.fromkeys(node for node in self.owners if node is not None))

    def slot_counts(self) -> dict[Node, int]:
        counts: dict[Node, int] = {}
        for node in self.owners:
            if node is not None:
                counts[node] = counts.get(node, 0) + 1
        return counts


def _node(entry: Sequence[Any], asked: Node) -> Node:
    """A node of a ``CLUSTER SLOTS`` entry; an empty or ``?`` endpoint is the node that was asked."""
    host = _text(entry[0])
    return Node(asked.host if host in ("", "?") else host, int(entry[1]))


def parse_slots(reply: Sequence[Any], asked: Node) -> SlotMap:
    """The map a ``CLUSTER SLOTS`` reply describes (ranges ``[start, end, master, replica...]``)."""
    slot_map = SlotMap()
    for start, end, master, *replicas in reply:
        owner = _node(master, asked)
        slot_map.owners[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
        slot_map.replicas.setdefault(owner, set()).update(_node(replica, asked) for replica in replicas)
    return slot_map
