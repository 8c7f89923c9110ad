"""Run ops on a Redis Cluster: find the node of each op's hash slot, then run it as on one server.

Uniform record ops touch the keys of one table, which share a slot (the table is a hash tag,
see :class:`~dbplex_redis.translate.Keys`), so each runs on one node exactly as the standalone
backend runs it (:func:`dbplex_redis.execute.run`), with the same raw replies. Raw commands and
pipelines are checked before anything is sent: a command, or a transaction, whose keys span
slots is refused with :class:`~dbplex.errors.OpError`; a pipeline without a transaction is
split by node. A ``MOVED`` reply (the slot map changed) refreshes the map and retries (so do
``ASK`` and ``TRYAGAIN``, which a slot migration gives, until the tries run out); a node that cannot be reached fails the op with SourceUnavailable and refreshes the
map (rate-limited), so that a replica promoted in its place is found.
"""

# redis-py's connection and cluster classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import QueryError, SourceUnavailable
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex_redis import execute as standalone
from dbplex_redis.cluster_pool import ClusterClient
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.errors import address
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import TAGGED_KEYS, Keys, command_name

T = TypeVar("T")
#: tries of an op whose slot moved (a resharding, or a failover the client had not seen yet).
MAX_TRIES = 3
_MOVED = (redis.exceptions.MovedError, redis.exceptions.AskError, redis.exceptions.TryAgainError)
_PASSTHROUGH = (*_MOVED, redis.exceptions.ClusterDownError)


def command_keys(client: ClusterClient, args: Sequence[Any]) -> list[Any]:
    """The keys of a raw command, from the server's command table (none: an empty list)."""
    keys = numkeys_keys(args)
    if keys is not None:
        return keys
    try:
        found = client.commands_parser.get_keys(
            client.get_default_node().redis_connection, command_name(args), *args[1:]
        )
    except redis.exceptions.RedisError:  # a command the server does not know: it will say so itself
        return []
    return list(found or [])


def command_slot(client: ClusterClient, source: Source, args: Sequence[Any]) -> int | None:
    """The slot a raw command runs in (None without keys); OpError when its keys span slots."""
    return one_slot(f"source {source.name!r}: Redis command {command_name(args)}", command_keys(client, args))


def on_slot(client: ClusterClient, source: Source, slot_number: int | None, run: Callable[[Any], T]) -> T:
    """``run(pool)`` on the node serving ``slot_number`` (any node for None), following moved slots."""
    for _ in range(MAX_TRIES):
        pool = client.node_pool(slot_number)
        failure: SourceUnavailable | None
        try:
            return run(pool)
        except _MOVED:
            failure = None
        except redis.exceptions.ClusterDownError as exc:
            where = address(pool.connection_kwargs)
            failure = SourceUnavailable(
                f"source {source.name!r}: {where} cannot serve slot {slot_number} now: {scrub(str(exc))}"
            )
        except SourceUnavailable as exc:
            failure = exc
        # Outside the handler: connections the refresh closes are not counted as lost.
        client.refresh_topology(force=failure is None)
        if failure is not None:
            raise failure from None
    raise QueryError(
        f"source {source.name!r}: hash slot {slot_number} was redirected (MOVED/ASK/TRYAGAIN) on each of "
        f"{MAX_TRIES} tries; a slot migration may be under way: try again once it is done"
    )


def _record_slot(client: ClusterClient, source: Source, keys: Keys, op: Any) -> int:
    return slot(keys.family(op.table))


def _command_slot(client: ClusterClient, source: Source, keys: Keys, op: Command) -> int | None:
    return command_slot(client, source, op.args)


def _anywhere(client: ClusterClient, source: Source, keys: Keys, op: Op) -> None:
    """PUBLISH needs no key: the cluster bus delivers it to subscribers on every node."""


_SLOT_OF: dict[type[Op], Callable[[ClusterClient, Source, Keys, Any], int | None]] = {
    **dict.fromkeys((Get, Put, Update, Delete, Scan), _record_slot),
    Command: _command_slot,
    Publish: _anywhere,
}


def _pipeline(client: ClusterClient, source: Source, keys: Keys, op: Pipeline) -> Result:
    """A transaction on the one node of its slot; otherwise each node's commands in one round trip."""
    slots = [command_slot(client, source, args) for args in op.commands]
    if op.transaction:
        if len({s for s in slots if s is not None}) > 1:
            keys_of_all = (key for args in op.commands for key in command_keys(client, args))
            one_slot(f"source {source.name!r}: redis.pipeline transaction", keys_of_all)
        first = next((s for s in slots if s is not None), None)
        handler = standalone.HANDLERS[Pipeline]
        return on_slot(
            client, source, first, lambda pool: standalone.run(handler, pool, keys, source, op, _PASSTHROUGH)
        )
    failure: SourceUnavailable | None = None
    try:
        replies = _by_node(client, source, keys, op, slots)
    except SourceUnavailable as exc:  # the commands sent to other nodes before it did run
        failure, replies = exc, []
    moved = any(isinstance(reply, _MOVED) for reply in replies)  # those commands did not run
    if failure is not None or moved:
        client.refresh_topology(force=failure is None)  # outside the handler, as in on_slot
    if failure is not None:
        raise failure from None
    return standalone.pipeline_result(source, op, replies)


def _by_node(client: ClusterClient, source: Source, keys: Keys, op: Pipeline, slots: list[int | None]) -> list[Any]:
    """Each node's commands of ``op`` in one round trip; the replies in the order of the commands."""
    by_node: dict[int, tuple[Any, list[int]]] = {}
    for number, slot_number in enumerate(slots):
        pool = client.node_pool(slot_number)
        by_node.setdefault(id(pool), (pool, []))[1].append(number)
    replies: list[Any] = [None] * len(slots)
    for pool, numbers in by_node.values():
        commands = [op.commands[n] for n in numbers]

        def send(pool: Any, keys: Keys, source: Source, op: Op, commands: list[list[Any]] = commands) -> list[Any]:
            return standalone.pipelined(source, pool, commands, False)

        for number, reply in zip(numbers, standalone.run(send, pool, keys, source, op), strict=True):
            replies[number] = reply
    return replies


def execute(source: Source, client: ClusterClient, op: Op) -> Result:
    """Run ``op`` on the node of its slot (the ``dbplex_query`` hook of ``redis+cluster://`` sources)."""
    keys = TAGGED_KEYS[source.options.prefix]
    if type(op) is Pipeline:
        return _pipeline(client, source, keys, op)
    handler = standalone.handler_for(source, op)
    slot_number = _SLOT_OF[type(op)](client, source, keys, op)
    return on_slot(
        client, source, slot_number, lambda pool: standalone.run(handler, pool, keys, source, op, _PASSTHROUGH)
    )
