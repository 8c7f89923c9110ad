"""Run ops on a Redis Cluster: find the node of each op's hash slot, then run it as on one server.

Uniform record ops touch the keys of one table, which share a slot (the table is a hash tag,
see :class:`~dbplex_redis.translate.Keys`), so each runs on one node exactly as the standalone
backend runs it (:func:`dbplex_redis.execute.run`), with the same raw replies. Raw commands and
pipelines are checked before anything is sent: a command, or a transaction, whose keys span
slots is refused with :class:`~dbplex.errors.OpError`; a pipeline without a transaction is
split by node.

Following the cluster:

- ``MOVED`` (the slot map changed; also inside a transaction, where the server aborts it at
  EXEC) refreshes the slot map and retries, up to :data:`~dbplex_redis.cluster_follow.MAX_TRIES` tries in all, the later
  ones after a short capped pause (:func:`~dbplex_redis.cluster_follow.pause`) so that a migration can finish.
- ``ASK`` (the slot is being migrated and the key is on the target already, or new): ops of one
  command per checkout (``redis.command``, ``Get``, ``Put``, ``Update``, ``Delete``,
  ``redis.publish``) are sent again to the node the reply names, each command preceded by
  ``ASKING`` on the same connection, without touching the slot map. ``Scan``, ``PutMany`` and pipelines
  (whose later commands would lack ``ASKING``) are retried like ``MOVED`` instead, and fail
  with QueryError if the migration is still under way after the tries.
- ``TRYAGAIN`` (a multi-key command during a migration) is retried like ``MOVED``.
- A node that cannot be reached, or ``CLUSTERDOWN``, fails the op with SourceUnavailable and
  refreshes the map (rate-limited), so that a replica promoted in its place is found.

Keyless commands whose answer or effect covers the whole keyspace (``KEYS``, ``SCAN``,
``DBSIZE``, ``RANDOMKEY``, ``FLUSHDB``, ``FLUSHALL``, ``SCRIPT LOAD`` and the like: see
:data:`~dbplex_redis.cluster_follow.WHOLE_KEYSPACE`) are refused with UnsupportedError rather than answered for one
node's share of the keys.

Every decision above is :mod:`dbplex_redis.cluster_follow`'s, shared with the asyncio twin
(:mod:`dbplex_redis.aio_cluster_execute`); this module does the sends, sleeps and refreshes.
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
from dbplex.errors import DbplexError, PoolTimeout, SourceUnavailable
from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex_redis import cluster_follow as follow
from dbplex_redis import execute as standalone
from dbplex_redis.cluster_follow import Follow
from dbplex_redis.cluster_pool import ClusterClient, RedisClusterPool
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.connector import connection_of
from dbplex_redis.errors import RedisSourceUnavailable
from dbplex_redis.ops import Command, Pipeline
from dbplex_redis.translate import TAGGED_KEYS, Keys, command_name

T = TypeVar("T")


def table_unreadable(source: Source, last: BaseException | None) -> RedisSourceUnavailable:
    return RedisSourceUnavailable(
        f"source {source.name!r}: cannot read the command table of the cluster: {scrub(str(last))}"
    )


def _table(pool: RedisClusterPool) -> dict[str, follow.Spec]:
    """The cluster's command table, asked of the first master that answers, once per source."""
    table: dict[str, follow.Spec] | None = pool.command_table
    if table is not None:
        return table
    last: BaseException | None = None
    for node in pool.slot_map.masters:
        try:
            with pool.pool_of(node).connection() as client:
                conn = connection_of(client)
                conn.send_command("COMMAND")
                table = follow.command_table(conn.read_response())
        except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
            last = exc
            continue
        pool.command_table = table
        return table
    raise table_unreadable(pool.source, last)


def keys_unknown(source: Source, args: Sequence[Any], node: str, exc: BaseException) -> RedisSourceUnavailable:
    """SourceUnavailable when ``COMMAND GETKEYS`` could not be asked: guessing "no keys" would skip the cross-slot check."""
    where = f"source {source.name!r}: "
    return RedisSourceUnavailable(
        f"{where}cannot find the keys of {command_name(args)} "
        f"(COMMAND GETKEYS on {node}): {scrub(str(exc)).removeprefix(where)}"
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
        raise keys_unknown(pool.source, args, node.name, exc) from None


def command_keys(pool: RedisClusterPool, args: Sequence[Any]) -> list[Any]:
    """The keys of a raw command, from the server's command table (none: an empty list)."""
    keys = numkeys_keys(args)
    if keys is None:
        keys = follow.keys_by_table(_table(pool), args)
    return _get_keys(pool, args) if keys is None else keys


def command_slot(pool: RedisClusterPool, source: Source, args: Sequence[Any]) -> int | None:
    """The slot a raw command runs in (None without keys); OpError when its keys span slots,
    UnsupportedError for a keyless command that would need every node."""
    follow.refuse_whole_keyspace(source.name, args)
    return one_slot(f"source {source.name!r}: Redis command {command_name(args)}", command_keys(pool, args))


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
    following moved slots as :class:`~dbplex_redis.cluster_follow.Follow` decides."""
    tries = Follow(source.name, slot_number, asking)
    while True:
        node, ask = tries.node(pool.slot_map)
        try:
            with pool.pool_of(node).connection() as client:
                return run(client, _asking(handler) if ask else handler)
        except PoolTimeout:
            raise  # the node's pool is busy, not moved: nothing to learn from the slot map
        except (SourceUnavailable, redis.exceptions.ResponseError) as exc:  # only redirections come through run
            failure = tries.after(node, exc)
        if tries.asked:
            continue  # the slot map stays: the slot is still the source node's
        # Outside the checkout: connections the refresh closes are not counted as lost.
        pool.refresh(force=failure is None)
        if failure is not None:
            raise failure from None
        time.sleep(tries.wait())


#: the slot of each (key layout, table): a table's keys share one slot, computed once.
_TABLE_SLOTS: dict[tuple[str, str], int] = {}


def record_slot(keys: Keys, op: Any) -> int:
    cached = _TABLE_SLOTS.get((keys.prefix, op.table))
    if cached is None:
        if len(_TABLE_SLOTS) > 65536:  # bounded, whatever names the tables get
            _TABLE_SLOTS.clear()
        cached = _TABLE_SLOTS[(keys.prefix, op.table)] = slot(keys.family(op.table))
    return cached


#: ops whose keys are a table's (one slot); Publish needs none (the cluster bus delivers it to
#: subscribers on every node); Command's keys are looked up.
RECORD_OPS = (Get, Put, PutMany, Update, Delete, Scan)
#: record ops sending more than one command per checkout, which ``ASKING`` (good for the next
#: command only) cannot redirect.
MULTI_COMMAND = (Scan, PutMany)


def _slot_of(pool: RedisClusterPool, source: Source, keys: Keys, op: Op) -> int | None:
    if isinstance(op, RECORD_OPS):
        return record_slot(keys, op)
    return command_slot(pool, source, op.args) if isinstance(op, Command) else None


def _runner(keys: Keys, source: Source, op: Op) -> Callable[[redis.Redis, Callable[..., T]], T]:
    def run(client: redis.Redis, handler: Callable[..., T]) -> T:
        return standalone.run(handler, client, keys, source, op, redirects=True)

    return run


def _transaction(conn: Any, keys: Keys, source: Source, op: Pipeline) -> Result:
    """``MULTI`` ... ``EXEC`` in one round trip, its replies read by :func:`~dbplex_redis.cluster_follow.executed`."""
    sent = standalone.pipelined(source, conn, follow.transaction(op.commands), False)
    return standalone.pipeline_result(source, op, follow.executed(source.name, sent))


def _pipeline(pool: RedisClusterPool, source: Source, keys: Keys, op: Pipeline) -> Result:
    """A transaction on the one node of its slot; otherwise each node's commands in one round trip."""
    slots = [command_slot(pool, source, args) for args in op.commands]
    if op.transaction:
        if follow.spans_slots(slots):
            keys_of_all = (key for args in op.commands for key in command_keys(pool, args))
            one_slot(f"source {source.name!r}: redis.pipeline transaction", keys_of_all)
        return on_slot(pool, source, follow.first_slot(slots), _runner(keys, source, op), _transaction)
    failure: SourceUnavailable | None = None
    try:
        replies = _by_node(pool, source, keys, op, slots)
    except PoolTimeout:
        raise  # a node's pool is busy, not moved
    except SourceUnavailable as exc:  # the commands sent to other nodes before it did run
        failure, replies = exc, []
    if failure is not None or follow.moved(replies):  # redirected commands did not run
        pool.refresh(force=failure is None)  # outside the checkout, as in on_slot
    if failure is not None:
        raise failure from None
    return standalone.pipeline_result(source, op, replies)


def _by_node(pool: RedisClusterPool, source: Source, keys: Keys, op: Pipeline, slots: list[int | None]) -> list[Any]:
    """Each node's commands of ``op`` in one round trip; the replies in the order of the commands."""
    replies: list[Any] = [None] * len(slots)
    for node, numbers in follow.by_node(pool.slot_map, source.name, slots).items():
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
    return on_slot(
        pool,
        source,
        _slot_of(pool, source, keys, op),
        _runner(keys, source, op),
        handler,
        asking=not isinstance(op, MULTI_COMMAND),
    )
