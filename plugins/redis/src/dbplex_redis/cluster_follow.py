"""Pure: the decisions of running an op on a Redis Cluster, shared by the sync and asyncio backends.

Which node an op goes to, what a ``MOVED``/``ASK``/``TRYAGAIN``/``CLUSTERDOWN`` reply means for
the next try, how long to wait before it, where a raw command's keys are (from the servers'
``COMMAND`` table), how a pipeline splits by node, and what the replies to a transaction sent
as ``MULTI ... EXEC`` mean. No I/O here: :mod:`dbplex_redis.cluster_execute` and
:mod:`dbplex_redis.aio_cluster_execute` do the sends, reads, sleeps and slot-map refreshes
these decisions call for, so that both follow a cluster alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.exceptions

from dbplex.errors import QueryError, SourceUnavailable, UnsupportedError
from dbplex.secrets import scrub
from dbplex_redis.cluster_map import Node, SlotMap
from dbplex_redis.execute import redirection
from dbplex_redis.translate import command_name, decode_reply

#: tries of an op whose slot moved (a resharding, or a failover the client had not seen yet):
#: with :func:`pause`, about 1.5 s for the masters to agree on the new owner.
MAX_TRIES = 8

#: keyless commands that answer for, or act on, the whole keyspace: one node would give its share only.
WHOLE_KEYSPACE = frozenset(
    {"KEYS", "SCAN", "DBSIZE", "RANDOMKEY", "FLUSHDB", "FLUSHALL", "FUNCTION", "WAIT", "WAITAOF"}
    | {f"SCRIPT {sub}" for sub in ("LOAD", "EXISTS", "FLUSH", "KILL")}
)


def pause(tries: int) -> float:
    """Seconds to wait before the ``tries``+1-th try of a redirected op: none after the first
    redirection (the map was just read again), then 50 ms doubling, at most 400 ms."""
    return min(0.05 * 2 ** (tries - 2), 0.4) if tries > 1 else 0.0


def owner(slot_map: SlotMap, source: str, slot_number: int | None) -> Node:
    """The master serving ``slot_number`` (the first master for None); SourceUnavailable when the map names none."""
    if slot_number is None:
        masters = slot_map.masters
        if not masters:
            raise SourceUnavailable(f"source {source!r}: the slot map names no master now")
        return masters[0]
    node = slot_map.owners[slot_number]
    if node is None:
        raise SourceUnavailable(f"source {source!r}: hash slot {slot_number} is served by no node of the cluster now")
    return node


def redirected_to(exc: BaseException) -> Node | None:
    """The node a ``MOVED``/``ASK`` reply names (``<slot> <host>:<port>``, per the cluster specification)."""
    words = str(exc).split()
    if len(words) < 2:
        return None
    host, _, port = words[-1].rpartition(":")
    if not port.isdigit():
        return None
    return Node(host.strip("[]"), int(port))


class Follow:
    """One op's tries on the master of its slot: :meth:`node` before each, :meth:`after` when one
    failed. A ``MOVED`` reply sends the next try to the node it names, whatever the slot map
    read since says: the node asked for ``CLUSTER SLOTS`` may not have learnt the new owner yet,
    while the node that redirected knows it. With ``asking`` (ops of one command per checkout) an
    ``ASK`` reply sends the next try to the node it names, with ``ASKING``, without touching the
    slot map; otherwise ASK is retried like MOVED."""

    def __init__(self, source: str, slot_number: int | None, asking: bool) -> None:
        self.source, self.slot, self.asking = source, slot_number, asking
        self.tries = 0
        self._ask: Node | None = None
        self._moved: Node | None = None
        self._last = ""

    def node(self, slot_map: SlotMap) -> tuple[Node, bool]:
        """The node of the next try and whether ``ASKING`` goes first; QueryError when the tries are spent."""
        if self.tries >= MAX_TRIES:
            raise QueryError(
                f"source {self.source!r}: hash slot {self.slot} was redirected (MOVED/ASK/TRYAGAIN) on each of "
                f"{MAX_TRIES} tries (last: {self._last}); a slot migration may be under way: try again once it is done"
            )
        self.tries += 1
        if self._ask is not None:
            target, self._ask = self._ask, None
            return target, True
        return self._moved or owner(slot_map, self.source, self.slot), False

    def after(self, node: Node, exc: BaseException) -> SourceUnavailable | None:
        """What a failed try means. Returns the error to raise once the map is read again (a node
        down, ``CLUSTERDOWN``), or None to read the map again (forced) and try again after
        :meth:`wait`. :attr:`asked` tells that the next try goes at once to an ``ASK`` target instead."""
        if isinstance(exc, SourceUnavailable):
            return exc
        kind = redirection(exc)
        self._last = f"{node.name}: {scrub(str(exc))}"
        if kind == "ASK" and self.asking:
            self._ask = redirected_to(exc)
        elif kind == "MOVED":
            self._moved = redirected_to(exc)
        if kind == "CLUSTERDOWN":
            return SourceUnavailable(
                f"source {self.source!r}: {node.name} cannot serve slot {self.slot} now: {scrub(str(exc))}"
            )
        return None

    @property
    def asked(self) -> bool:
        """Whether the next try follows an ``ASK`` (no map refresh, no wait)."""
        return self._ask is not None

    def wait(self) -> float:
        return pause(self.tries)


class Spec:
    """Where a command's keys are, from the server's ``COMMAND`` reply."""

    __slots__ = ("first", "last", "movable", "step")

    def __init__(self, entry: Sequence[Any]) -> None:
        flags = {decode_reply(flag) for flag in entry[2]}
        self.first, self.last, self.step = int(entry[3]), int(entry[4]), int(entry[5])
        self.movable = "movablekeys" in flags


def command_table(reply: Sequence[Any]) -> dict[str, Spec]:
    """``NAME`` (and ``NAME SUBCOMMAND``) to the spec of its keys, from a ``COMMAND`` reply."""
    table: dict[str, Spec] = {}
    for entry in reply:
        table[command_name(entry[:1]).replace("|", " ")] = Spec(entry)
        for sub in entry[9] if len(entry) > 9 else ():
            table[command_name(sub[:1]).replace("|", " ")] = Spec(sub)
    return table


def full_name(args: Sequence[Any]) -> tuple[str, str]:
    """The command's name and, with its first argument, its two-word name (``SCRIPT LOAD``)."""
    name = command_name(args)
    if len(args) < 2 or not isinstance(args[1], str | bytes):
        return name, name
    return name, f"{name} {command_name(args[1:])}"


def keys_by_table(table: dict[str, Spec], args: Sequence[Any]) -> list[Any] | None:
    """The keys of a raw command by the command table (none: an empty list); None for a command
    whose keys only the server can find (``COMMAND GETKEYS``)."""
    name, full = full_name(args)
    spec = table.get(full) or table.get(name)
    if spec is None:
        return []  # unknown: the server will say so itself
    if spec.movable:
        return None
    if spec.first <= 0:
        return []
    last = spec.last if spec.last >= 0 else len(args) + spec.last
    return list(args[spec.first : last + 1 : max(spec.step, 1)])


def refuse_whole_keyspace(source: str, args: Sequence[Any]) -> None:
    """UnsupportedError for a keyless command that would need every node (:data:`WHOLE_KEYSPACE`)."""
    name, full = full_name(args)
    if name in WHOLE_KEYSPACE or full in WHOLE_KEYSPACE:  # none of them takes keys
        shown = full if full in WHOLE_KEYSPACE else name
        raise UnsupportedError(
            f"source {source!r}: Redis command {shown} covers the whole keyspace, which a Redis Cluster "
            "spreads over its masters; dbplex would run it on one node and answer for that node's keys "
            f"only: use the native client (hub.connection({source!r})) on each master, or a key-based command"
        )


def spans_slots(slots: Sequence[int | None]) -> bool:
    """Whether a transaction's commands name keys of more than one slot (its keys are then read to say which)."""
    return len({s for s in slots if s is not None}) > 1


def first_slot(slots: Sequence[int | None]) -> int | None:
    return next((s for s in slots if s is not None), None)


def by_node(slot_map: SlotMap, source: str, slots: Sequence[int | None]) -> dict[Node, list[int]]:
    """The numbers of a pipeline's commands by the node each goes to, in order."""
    nodes: dict[Node, list[int]] = {}
    for number, slot_number in enumerate(slots):
        nodes.setdefault(owner(slot_map, source, slot_number), []).append(number)
    return nodes


def moved(replies: Sequence[Any]) -> bool:
    """Whether some command of a pipeline was redirected (and so did not run): the map is stale."""
    return any(redirection(reply) in ("MOVED", "ASK", "TRYAGAIN") for reply in replies)


def transaction(commands: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """A transaction's commands as one plain pipeline, for :func:`executed` to read the replies of."""
    return [("MULTI",), *commands, ("EXEC",)]


def executed(source: str, replies: Sequence[Any]) -> list[Any]:
    """The replies of a transaction's commands, from the replies to :func:`transaction`.

    A command the server refused to queue aborts the transaction: a redirection is raised as it
    is (for the caller to follow: no command ran), any other refusal as QueryError.
    """
    refused = next((reply for reply in replies[:-1] if isinstance(reply, Exception)), None)
    result = replies[-1]
    if isinstance(result, Exception):  # EXECABORT: the refusal says why
        reason = refused or result
        if redirection(reason):
            raise reason
        raise QueryError(
            f"source {source!r}: redis.pipeline: {scrub(str(reason))}; the transaction was aborted, no command ran"
        )
    if result is None:  # (no WATCH here, but never a TypeError)
        raise redis.exceptions.ResponseError("the transaction was aborted")
    return list(result)
