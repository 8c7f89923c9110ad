"""Run ops on a Redis Cluster: find the node of each op's hash slot, then run it as on one server.

Uniform record ops touch the keys of one table, which share a slot (the table is a hash tag,
see :class:`~dbplex_redis.translate.Keys`), so each runs on one node exactly as the standalone
backend runs it (:func:`dbplex_redis.execute.run`), with the same raw replies. Raw commands and
pipelines are checked before anything is sent: a command, or a transaction, whose keys span
slots is refused with :class:`~dbplex.errors.OpError`; a pipeline without a transaction is
split by node.

Following the cluster:

- ``MOVED`` (the slot map changed; also inside a transaction, where the server aborts it at
  EXEC) refreshes the slot map and retries, up to :data:`MAX_TRIES` tries in all, the later
  ones after a short capped pause (:func:`pause`) so that a migration can finish.
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
``DBSIZE``, ``RANDOMKEY``, ``FLUSHDB``, ``FLUSHALL``, ``SCRIPT LOAD`` and the like: see
:data:`WHOLE_KEYSPACE`) are refused with UnsupportedError rather than answered for one
node's share of the keys.
"""

# redis-py's connection class is not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import DbplexError, PoolTimeout, QueryError, SourceUnavailable, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex_redis import execute as standalone
from dbplex_redis.cluster_map import Node
from dbplex_redis.cluster_pool import ClusterClient, RedisClusterPool
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.connector import connection_of
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import TAGGED_KEYS, Keys, command_name, decode_reply

T = TypeVar("T")
#: tries of an op whose slot moved (a resharding, or a failover the client had not seen yet).
MAX_TRIES = 5

#: keyless commands that answer for, or act on, the whole keyspace: one node would give its share only.
WHOLE_KEYSPACE = frozenset(
    {"KEYS", "SCAN", "DBSIZE", "RANDOMKEY", "FLUSHDB", "FLUSHALL", "FUNCTION", "WAIT", "WAITAOF"}
    | {f"SCRIPT {sub}" for sub in ("LOAD", "EXISTS", "FLUSH", "KILL")}
)


def pause(tries: int) -> None:
    """Before the ``tries``+1-th try of a redirected op: none after the first redirection (the map
    was just read again), then 50 ms doubling, at most 400 ms."""
    if tries > 1:
        time.sleep(min(0.05 * 2 ** (tries - 2), 0.4))


def _full_name(args: Sequence[Any]) -> tuple[str, str]:
    """The command's name and, with its first argument, its two-word name (``SCRIPT LOAD``)."""
    name = command_name(args)
    if len(args) < 2 or not isinstance(args[1], str | bytes):
        return name, name
    return name, f"{name} {command_name(args[1:])}"


class _Spec:
    """Where a command's keys are, from the server's ``COMMAND`` reply."""

    __slots__ = ("first", "last", "movable", "step")

    def __init__(self, entry: Sequence[Any]) -> None:
        flags = {decode_reply(flag) for flag in entry[2]}
        self.first, self.last, self.step = int(entry[3]), int(entry[4]), int(entry[5])
        self.movable = "movablekeys" in flags


def _command_table(reply: Sequence[Any]) -> dict[str, _Spec]:
    """``NAME`` (and ``NAME SUBCOMMAND``) to the spec of its keys, from a ``COMMAND`` reply."""
    table: dict[str, _Spec] = {}
    for entry in reply:
        table[command_name(entry[:1]).replace("|", " ")] = _Spec(entry)
        for sub in entry[9] if len(entry) > 9 else ():
            table[command_name(sub[:1]).replace("|", " ")] = _Spec(sub)
    return table


def _table(pool: RedisClusterPool) -> dict[str, _Spec]:
    """The cluster's command table, asked of the first master that answers, once per source."""
    table: dict[str, _Spec] | None = pool.command_table
    if table is not None:
        return table
    last: BaseException | None = None
    for node in pool.slot_map.masters:
        try:
            with pool.pool_of(node).connection() as client:
                conn = connection_of(client)
                conn.send_command("COMMAND")
                table = _command_table(conn.read_response())
        except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
            last = exc
            continue
        pool.command_table = table
        return table
    raise RedisSourceUnavailable(
        f"source {pool.source.name!r}: cannot read the command table of the cluster: {scrub(str(last))}"
    )


def _get_keys(pool: RedisClusterPool, args: Sequence[Any]) -> list[Any]:
    """The keys of a command whose keys only the server can find: ``COMMAND GETKEYS`` on the node
    of its first argument's slot."""
    node = pool.node_of(slot(args[1])) if len(args) > 1 else pool.any_master()
    try:
        with pool.pool_of(node).connection() as client:
            conn = connection_of(client)
            conn.send_command("COMMAND", "GETKEYS", *args)
            return list(conn.read_response() or [])
    except redis.exceptions.ResponseError:  # no keys, or arguments the server refuses: running it will say so
        return []
    except (SourceUnavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        where = f"source {pool.source.name!r}: "
        raise RedisSourceUnavailable(
            f"{where}cannot find the keys of {command_name(args)} "
            f"(COMMAND GETKEYS on {node.name}): {scrub(str(exc)).removeprefix(where)}"
        ) from None


def command_keys(pool: RedisClusterPool, args: Sequence[Any]) -> list[Any]:
    """The keys of a raw command, from the server's command table (none: an empty list).

    SourceUnavailable when the node asked (for commands with movable keys, ``COMMAND GETKEYS``)
    cannot be reached: guessing "no keys" would skip the cross-slot check.
    """
    keys = numkeys_keys(args)
    if keys is not None:
        return keys
    table = _table(pool)
    name, full = _full_name(args)
    spec = table.get(full) or table.get(name)
    if spec is None:
        return []  # unknown: the server will say so itself
    if spec.movable:
        return _get_keys(pool, args)
    if spec.first <= 0:
        return []
    last = spec.last if spec.last >= 0 else len(args) + spec.last
    return list(args[spec.first : last + 1 : max(spec.step, 1)])


def command_slot(pool: RedisClusterPool, source: Source, args: Sequence[Any]) -> int | None:
    """The slot a raw command runs in (None without keys); OpError when its keys span slots,
    UnsupportedError for a keyless command that would need every node."""
    name, full = _full_name(args)
    if name in WHOLE_KEYSPACE or full in WHOLE_KEYSPACE:  # none of them takes keys
        shown = full if full in WHOLE_KEYSPACE else name
        raise UnsupportedError(
            f"source {source.name!r}: Redis command {shown} covers the whole keyspace, which a Redis Cluster "
            "spreads over its masters; dbplex would run it on one node and answer for that node's keys "
            f"only: use the native client (hub.connection({source.name!r})) on each master, or a key-based command"
        )
    return one_slot(f"source {source.name!r}: Redis command {name}", command_keys(pool, args))


def _redirected_to(exc: redis.exceptions.ResponseError) -> Node | None:
    """The node a ``MOVED``/``ASK`` reply names (``<slot> <host>:<port>``, per the cluster specification)."""
    words = str(exc).split()
    if len(words) < 2:
        return None
    host, _, port = words[-1].rpartition(":")
    if not port.isdigit():
        return None
    return Node(host.strip("[]"), int(port))


def _asking(handler: Callable[[Any, Keys, Source, Any], T]) -> Callable[[Any, Keys, Source, Any], T]:
    """``handler`` with ``ASKING`` sent first on the same connection (the answer to ``ASK``)."""

    def run(conn: Any, keys: Keys, source: Source, op: Any) -> T:
        conn.send_command("ASKING")
        conn.read_response()
        return handler(conn, keys, source, op)

    return run


def on_slot(
    pool: RedisClusterPool,
    source: Source,
    slot_number: int | None,
    run: Callable[[redis.Redis, Callable[[Any, Keys, Source, Any], T]], T],
    handler: Callable[[Any, Keys, Source, Any], T],
    asking: bool = False,
) -> T:
    """``run(client, handler)`` on the master serving ``slot_number`` (any master for None),
    following moved slots.

    With ``asking`` (ops of one command per checkout), an ``ASK`` reply sends the op to the node
    it names, with ``ASKING``; otherwise ASK is retried like MOVED.
    """
    target: Node | None = None
    for tries in range(MAX_TRIES):
        if target is None:
            node, step = pool.any_master() if slot_number is None else pool.node_of(slot_number), handler
        else:
            node, step = target, _asking(handler)
        target = None
        failure: SourceUnavailable | None
        try:
            with pool.pool_of(node).connection() as client:
                return run(client, step)
        except redis.exceptions.ResponseError as exc:  # only redirections come through standalone.run
            kind = standalone.redirection(exc)
            if kind == "ASK" and asking:
                target = _redirected_to(exc)
                if target is not None:
                    continue  # the slot map stays: the slot is still the source node's
            failure = None
            if kind == "CLUSTERDOWN":
                failure = SourceUnavailable(
                    f"source {source.name!r}: {node.name} cannot serve slot {slot_number} now: {scrub(str(exc))}"
                )
        except PoolTimeout:
            raise  # the node's pool is busy, not moved: nothing to learn from the slot map
        except SourceUnavailable as exc:
            failure = exc
        # Outside the checkout: connections the refresh closes are not counted as lost.
        pool.refresh(force=failure is None)
        if failure is not None:
            raise failure from None
        pause(tries + 1)
    raise QueryError(
        f"source {source.name!r}: hash slot {slot_number} was redirected (MOVED/ASK/TRYAGAIN) on each of "
        f"{MAX_TRIES} tries; a slot migration may be under way: try again once it is done"
    )


#: the slot of each (key layout, table): a table's keys share one slot, computed once.
_TABLE_SLOTS: dict[tuple[str, str], int] = {}


def _record_slot(pool: RedisClusterPool, source: Source, keys: Keys, op: Any) -> int:
    cached = _TABLE_SLOTS.get((keys.prefix, op.table))
    if cached is None:
        if len(_TABLE_SLOTS) > 65536:  # bounded, whatever names the tables get
            _TABLE_SLOTS.clear()
        cached = _TABLE_SLOTS[(keys.prefix, op.table)] = slot(keys.family(op.table))
    return cached


def _command_slot(pool: RedisClusterPool, source: Source, keys: Keys, op: Command) -> int | None:
    return command_slot(pool, source, op.args)


def _anywhere(pool: RedisClusterPool, source: Source, keys: Keys, op: Op) -> None:
    """PUBLISH needs no key: the cluster bus delivers it to subscribers on every node."""


_SLOT_OF: dict[type[Op], Callable[[RedisClusterPool, Source, Keys, Any], int | None]] = {
    **dict.fromkeys((Get, Put, Update, Delete, Scan), _record_slot),
    Command: _command_slot,
    Publish: _anywhere,
}


def _runner(keys: Keys, source: Source, op: Op) -> Callable[[redis.Redis, Callable[..., Result]], Result]:
    def run(client: redis.Redis, handler: Callable[..., Result]) -> Result:
        return standalone.run(handler, client, keys, source, op, redirects=True)

    return run


def _pipeline(pool: RedisClusterPool, source: Source, keys: Keys, op: Pipeline) -> Result:
    """A transaction on the one node of its slot; otherwise each node's commands in one round trip."""
    slots = [command_slot(pool, source, args) for args in op.commands]
    if op.transaction:
        if len({s for s in slots if s is not None}) > 1:
            keys_of_all = (key for args in op.commands for key in command_keys(pool, args))
            one_slot(f"source {source.name!r}: redis.pipeline transaction", keys_of_all)
        first = next((s for s in slots if s is not None), None)
        return on_slot(pool, source, first, _runner(keys, source, op), standalone.HANDLERS[Pipeline])
    failure: SourceUnavailable | None = None
    try:
        replies = _by_node(pool, source, keys, op, slots)
    except PoolTimeout:
        raise  # a node's pool is busy, not moved
    except SourceUnavailable as exc:  # the commands sent to other nodes before it did run
        failure, replies = exc, []
    moved = any(standalone.redirection(reply) in standalone.MOVED for reply in replies)  # those commands did not run
    if failure is not None or moved:
        pool.refresh(force=failure is None)  # outside the checkout, as in on_slot
    if failure is not None:
        raise failure from None
    return standalone.pipeline_result(source, op, replies)


def _by_node(pool: RedisClusterPool, source: Source, keys: Keys, op: Pipeline, slots: list[int | None]) -> list[Any]:
    """Each node's commands of ``op`` in one round trip; the replies in the order of the commands."""
    by_node: dict[Node, list[int]] = {}
    for number, slot_number in enumerate(slots):
        node = pool.any_master() if slot_number is None else pool.node_of(slot_number)
        by_node.setdefault(node, []).append(number)
    replies: list[Any] = [None] * len(slots)
    for node, numbers in by_node.items():
        commands = [op.commands[n] for n in numbers]

        def send(conn: Any, keys: Keys, source: Source, op: Op, commands: list[list[Any]] = commands) -> list[Any]:
            return standalone.pipelined(source, conn, commands, False)

        with pool.pool_of(node).connection() as client:
            found = standalone.run(send, client, keys, source, op)
        for number, reply in zip(numbers, found, strict=True):
            replies[number] = reply
    return replies


def execute(source: Source, conn: ClusterClient, op: Op) -> Result:
    """Run ``op`` on the node of its slot (the ``dbplex_query`` hook of ``redis+cluster://`` sources)."""
    pool = conn.pool
    keys = TAGGED_KEYS[source.options.prefix]
    if type(op) is Pipeline:
        return _pipeline(pool, source, keys, op)
    handler = standalone.handler_for(source, op)
    slot_number = _SLOT_OF[type(op)](pool, source, keys, op)
    return on_slot(
        pool,
        source,
        slot_number,
        _runner(keys, source, op),
        handler,
        asking=type(op) is not Scan,  # every other op sends one command per checkout
    )
