"""Run ops on a Redis Cluster: find the node of each op's hash slot, then run it as on one server.

Uniform record ops touch the keys of one table, which share a slot (the table is a hash tag,
see :class:`~dbplex_redis.translate.Keys`), so each runs on one node exactly as the standalone
backend runs it (:func:`dbplex_redis.execute.run`), with the same raw replies. Raw commands and
pipelines are checked before anything is sent: a command, or a transaction, whose keys span
slots is refused with :class:`~dbplex.errors.OpError`; a pipeline without a transaction is
split by node.

Following the cluster:

- ``MOVED`` (the slot map changed; also inside a transaction, where the server aborts it at
  EXEC) refreshes the slot map and retries, up to :data:`MAX_TRIES` tries in all.
- ``ASK`` (the slot is being migrated and the key is on the target already, or new): ops of one
  command per checkout (``redis.command``, ``Get``, ``Put``, ``Update``, ``Delete``,
  ``redis.publish``) are sent again to the node the reply names, each command preceded by
  ``ASKING`` on the same connection, without touching the slot map. ``Scan`` and pipelines
  (whose later commands would lack ``ASKING``) are retried like ``MOVED`` instead, and fail
  with QueryError if the migration is still under way after the tries.
- ``TRYAGAIN`` (a multi-key command during a migration) is retried like ``MOVED``.
- A node that cannot be reached, or ``CLUSTERDOWN``, fails the op with SourceUnavailable and
  refreshes the map (rate-limited), so that a replica promoted in its place is found.

Keyless commands whose answer or effect covers the whole keyspace (``KEYS``, ``SCAN``,
``DBSIZE``, ``RANDOMKEY``, ``FLUSHDB``, ``FLUSHALL``, ``SCRIPT LOAD`` and the other commands
redis-py sends to every master) are refused with UnsupportedError rather than answered for one
node's share of the keys.
"""

# redis-py's connection and cluster classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis.exceptions
from redis.cluster import RedisCluster

from dbplex.backends import Source
from dbplex.errors import QueryError, SourceUnavailable, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex_redis import execute as standalone
from dbplex_redis.cluster_pool import ClusterClient
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.errors import RedisSourceUnavailable, address
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import TAGGED_KEYS, Keys, command_name

T = TypeVar("T")
#: tries of an op whose slot moved (a resharding, or a failover the client had not seen yet).
MAX_TRIES = 3
_MOVED = (redis.exceptions.MovedError, redis.exceptions.AskError, redis.exceptions.TryAgainError)
_PASSTHROUGH = standalone.REDIRECTS

#: keyless commands that answer for, or act on, the whole keyspace: one node would give its share only.
WHOLE_KEYSPACE = frozenset(
    {"KEYS", "SCAN", "DBSIZE", "RANDOMKEY", "FLUSHDB", "FLUSHALL"}
    | {
        name
        for name, flag in RedisCluster.COMMAND_FLAGS.items()
        if flag in (RedisCluster.PRIMARIES, RedisCluster.ALL_NODES)
    }
)


def _full_name(args: Sequence[Any]) -> tuple[str, str]:
    """The command's name and, with its first argument, its two-word name (``SCRIPT LOAD``)."""
    name = command_name(args)
    if len(args) < 2 or not isinstance(args[1], str | bytes):
        return name, name
    return name, f"{name} {command_name(args[1:])}"


def command_keys(client: ClusterClient, args: Sequence[Any]) -> list[Any]:
    """The keys of a raw command, from the server's command table (none: an empty list).

    SourceUnavailable when the node asked (for commands with movable keys, ``COMMAND GETKEYS``)
    cannot be reached: guessing "no keys" would skip the cross-slot check.
    """
    keys = numkeys_keys(args)
    if keys is not None:
        return keys
    node = client.get_default_node()
    # redis-py's parser lower-cases the first argument (a subcommand's name): give it text
    first = args[1:2]
    if first and not isinstance(first[0], str):
        first = [first[0].decode(errors="replace") if isinstance(first[0], bytes) else str(first[0])]
    try:
        found = client.commands_parser.get_keys(node.redis_connection, command_name(args), *first, *args[2:])
    except redis.exceptions.ResponseError:  # the server refuses these arguments: running it will say so
        return []
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        where = f"source {client.dbplex_source!r}: "
        raise RedisSourceUnavailable(
            f"{where}cannot find the keys of {command_name(args)} "
            f"(COMMAND GETKEYS on {node.name}): {scrub(str(exc)).removeprefix(where)}"
        ) from None
    except redis.exceptions.RedisError as exc:
        if "doesn't exist in Redis commands" in str(exc):  # unknown: the server will say so itself
            return []
        raise
    return list(found or [])


def command_slot(client: ClusterClient, source: Source, args: Sequence[Any]) -> int | None:
    """The slot a raw command runs in (None without keys); OpError when its keys span slots,
    UnsupportedError for a keyless command that would need every node."""
    name, full = _full_name(args)
    if name in WHOLE_KEYSPACE or full in WHOLE_KEYSPACE:  # none of them takes keys
        shown = full if full in WHOLE_KEYSPACE else name
        raise UnsupportedError(
            f"source {source.name!r}: Redis command {shown} covers the whole keyspace, which a Redis Cluster "
            "spreads over its masters; dbplex would run it on one node and answer for that node's keys "
            f"only: use the native client (hub.connection({source.name!r})), e.g. with "
            "target_nodes=RedisCluster.PRIMARIES, or a key-based command"
        )
    return one_slot(f"source {source.name!r}: Redis command {name}", command_keys(client, args))


class _Asking:
    """A node pool whose every checkout first sends ``ASKING`` (the reply to ``ASK``) on the connection."""

    __slots__ = ("_pool", "connection_kwargs")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.connection_kwargs = pool.connection_kwargs

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        conn = self._pool.get_connection()
        try:
            conn.send_command("ASKING")
            conn.read_response()
        except BaseException:
            self._pool.release(conn)
            raise
        return conn

    def release(self, conn: Any) -> None:
        self._pool.release(conn)


def _ask_target(client: ClusterClient, exc: redis.exceptions.AskError) -> Any:
    """The pool of the node an ``ASK`` reply names, as an :class:`_Asking` pool (None if unknown)."""
    node = client.nodes_manager.get_node(exc.host, exc.port)
    if node is None or client.dbplex_closed:
        return None
    return _Asking(client.get_redis_connection(node).connection_pool)


def on_slot(
    client: ClusterClient, source: Source, slot_number: int | None, run: Callable[[Any], T], asking: bool = False
) -> T:
    """``run(pool)`` on the node serving ``slot_number`` (any node for None), following moved slots.

    With ``asking`` (ops of one command per checkout), an ``ASK`` reply sends the op to the node
    it names, with ``ASKING``; otherwise ASK is retried like MOVED.
    """
    target = None
    for _ in range(MAX_TRIES):
        pool = client.node_pool(slot_number) if target is None else target
        target = None
        failure: SourceUnavailable | None
        try:
            return run(pool)
        except redis.exceptions.MovedError:  # (before AskError: MovedError is one)
            failure = None
        except redis.exceptions.AskError as exc:
            target = _ask_target(client, exc) if asking else None
            if target is not None:
                continue  # the slot map stays: the slot is still the source node's
            failure = None
        except redis.exceptions.TryAgainError:
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


#: the slot of each (key layout, table): a table's keys share one slot, computed once.
_TABLE_SLOTS: dict[tuple[str, str], int] = {}


def _record_slot(client: ClusterClient, source: Source, keys: Keys, op: Any) -> int:
    cached = _TABLE_SLOTS.get((keys.prefix, op.table))
    if cached is None:
        if len(_TABLE_SLOTS) > 65536:  # bounded, whatever names the tables get
            _TABLE_SLOTS.clear()
        cached = _TABLE_SLOTS[(keys.prefix, op.table)] = slot(keys.family(op.table))
    return cached


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
        client,
        source,
        slot_number,
        lambda pool: standalone.run(handler, pool, keys, source, op, _PASSTHROUGH),
        asking=type(op) is not Scan,  # every other op sends one command per checkout
    )
