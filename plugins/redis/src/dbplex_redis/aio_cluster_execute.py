"""Run ops on a Redis Cluster under asyncio: the ``dbplex_async_query`` and ``dbplex_async_health``
hooks of ``redis+cluster://`` sources.

The twin of :mod:`dbplex_redis.cluster_execute`: the same op plans (:mod:`dbplex_redis.translate`,
run by :mod:`dbplex_redis.aio_execute`'s handlers), the same routing, redirections, retries,
cross-slot refusals and transaction handling, all decided by :mod:`dbplex_redis.cluster_follow`;
only the sends, reads, pauses and slot-map refreshes are awaited. Results and errors are the
sync backend's.
"""

# redis-py's connection class is not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio
import redis.exceptions

from dbplex.aio import cancellation
from dbplex.aio.pool import AsyncPool
from dbplex.backends import Source
from dbplex.errors import DbplexError, PoolTimeout, SourceUnavailable
from dbplex.health import Health
from dbplex.ops import Op
from dbplex.result import Result
from dbplex_redis import aio_execute
from dbplex_redis import cluster_follow as follow
from dbplex_redis.aio_cluster_pool import AsyncClusterClient, AsyncRedisClusterPool
from dbplex_redis.aio_connector import call, connection_of
from dbplex_redis.cluster_execute import MULTI_COMMAND, RECORD_OPS, keys_unknown, record_slot, table_unreadable
from dbplex_redis.cluster_follow import Follow
from dbplex_redis.cluster_health import NODE_COMMANDS, node_entry, summary
from dbplex_redis.cluster_map import Node
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.errors import RedisSourceUnavailable, address, connection_lost
from dbplex_redis.execute import failure, handler_for, pipeline_result
from dbplex_redis.ops import Command, Pipeline
from dbplex_redis.translate import TAGGED_KEYS, Keys, command_name

T = TypeVar("T")
Handler = Callable[[Any, Keys, Source, Any], Awaitable[T]]
_pipelined = aio_execute._pipelined  # one round trip of plain commands, error replies in place


async def _table(pool: AsyncRedisClusterPool) -> dict[str, follow.Spec]:
    """The cluster's command table, read once per source."""
    if pool.command_table is None:
        pool.command_table = await _read_table(pool)
    table: dict[str, follow.Spec] = pool.command_table
    return table


async def _read_table(pool: AsyncRedisClusterPool) -> dict[str, follow.Spec]:
    """``COMMAND``, asked of the first master that answers."""
    last: BaseException | None = None
    for node in pool.slot_map.masters:
        try:
            async with (await pool.pool_of(node)).connection() as client:
                return follow.command_table(await call(connection_of(client), ["COMMAND"]))
        except (DbplexError, redis.exceptions.RedisError, OSError) as exc:
            last = exc
    raise table_unreadable(pool.source, last)


async def _get_keys(pool: AsyncRedisClusterPool, args: Sequence[Any]) -> list[Any]:
    """``COMMAND GETKEYS`` on the node of the first argument's slot, as the sync backend asks it."""
    node = pool.node_of(slot(args[1])) if len(args) > 1 else pool.any_master()
    try:
        async with (await pool.pool_of(node)).connection() as client:
            return list(await call(connection_of(client), ["COMMAND", "GETKEYS", *args]) or [])
    except redis.exceptions.ResponseError:  # no keys, or arguments the server refuses: running it will say so
        return []
    except (SourceUnavailable, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise keys_unknown(pool.source, args, node.name, exc) from None


async def command_slot(pool: AsyncRedisClusterPool, source: Source, args: Sequence[Any]) -> int | None:
    """As :func:`dbplex_redis.cluster_execute.command_slot`."""
    follow.refuse_whole_keyspace(source.name, args)
    return one_slot(f"source {source.name!r}: Redis command {command_name(args)}", await _command_keys(pool, args))


async def _command_keys(pool: AsyncRedisClusterPool, args: Sequence[Any]) -> list[Any]:
    keys = numkeys_keys(args)
    if keys is None:
        keys = follow.keys_by_table(await _table(pool), args)
    return await _get_keys(pool, args) if keys is None else keys


def _asking(handler: Handler[T]) -> Handler[T]:
    """``handler`` with ``ASKING`` sent first on the same connection (the answer to ``ASK``)."""

    async def run(conn: Any, keys: Keys, source: Source, op: Any) -> T:
        await call(conn, ["ASKING"])
        return await handler(conn, keys, source, op)

    return run


async def _run(handler: Handler[T], client: redis.asyncio.Redis, keys: Keys, source: Source, op: Op) -> T:
    """As :func:`dbplex_redis.execute.run` with ``redirects``: errors as the sync backend raises
    them, a redirection as it is for :func:`on_slot` to follow."""
    try:
        return await handler(connection_of(client), keys, source, op)
    except Exception as exc:
        error = failure(source, op, exc, client.connection_pool.connection_kwargs, redirects=True)
        if error is exc:
            raise
        raise error from None


async def on_slot(
    pool: AsyncRedisClusterPool, source: Source, slot_number: int | None, op: Op, handler: Handler[T], asking: bool
) -> T:
    """``handler`` on the master serving ``slot_number``, following moved slots as
    :func:`dbplex_redis.cluster_execute.on_slot` does."""
    keys = TAGGED_KEYS[source.options.prefix]
    tries = Follow(source.name, slot_number, asking)
    while True:
        node, ask = tries.node(pool.slot_map)
        try:
            async with (await pool.pool_of(node)).connection() as client:
                return await _run(_asking(handler) if ask else handler, client, keys, source, op)
        except PoolTimeout:
            raise  # the node's pool is busy, not moved
        except (SourceUnavailable, redis.exceptions.ResponseError) as exc:
            failure_ = tries.after(node, exc)
        if tries.asked:
            continue
        await pool.refresh(force=failure_ is None)
        if failure_ is not None:
            raise failure_ from None
        await asyncio.sleep(tries.wait())


async def _transaction(conn: Any, keys: Keys, source: Source, op: Pipeline) -> Result:
    sent = await _pipelined(conn, follow.transaction(op.commands))
    return pipeline_result(source, op, follow.executed(source.name, sent))


async def _pipeline(pool: AsyncRedisClusterPool, source: Source, op: Pipeline) -> Result:
    """As :func:`dbplex_redis.cluster_execute._pipeline`."""
    slots = [await command_slot(pool, source, args) for args in op.commands]
    if op.transaction:
        if follow.spans_slots(slots):
            keys_of_all = [key for args in op.commands for key in await _command_keys(pool, args)]
            one_slot(f"source {source.name!r}: redis.pipeline transaction", keys_of_all)
        return await on_slot(pool, source, follow.first_slot(slots), op, _transaction, asking=False)
    failed: SourceUnavailable | None = None
    try:
        replies = await _by_node(pool, source, op, slots)
    except PoolTimeout:
        raise
    except SourceUnavailable as exc:
        failed, replies = exc, []
    if failed is not None or follow.moved(replies):
        await pool.refresh(force=failed is None)
    if failed is not None:
        raise failed from None
    return pipeline_result(source, op, replies)


async def _by_node(pool: AsyncRedisClusterPool, source: Source, op: Pipeline, slots: list[int | None]) -> list[Any]:
    keys = TAGGED_KEYS[source.options.prefix]
    replies: list[Any] = [None] * len(slots)
    for node, numbers in follow.by_node(pool.slot_map, source.name, slots).items():
        commands = [op.commands[n] for n in numbers]

        async def send(conn: Any, keys: Keys, source: Source, op: Op, commands: list[Any] = commands) -> list[Any]:
            return await _pipelined(conn, commands)

        async with (await pool.pool_of(node)).connection() as client:
            found = await _run(send, client, keys, source, op)
        for number, reply in zip(numbers, found, strict=True):
            replies[number] = reply
    return replies


async def execute(source: Source, conn: AsyncClusterClient, op: Op) -> Result:
    """Run ``op`` on the node of its slot (the ``dbplex_async_query`` hook of ``redis+cluster://`` sources)."""
    pool = conn.pool
    if type(op) is Pipeline:
        return await _pipeline(pool, source, op)
    handler_for(source, op)  # UnsupportedError for an op the backend does not know, as in sync
    handler = aio_execute.HANDLERS[type(op)]
    slot_number: int | None
    if isinstance(op, RECORD_OPS):
        slot_number = record_slot(TAGGED_KEYS[source.options.prefix], op)
    else:
        slot_number = await command_slot(pool, source, op.args) if isinstance(op, Command) else None
    return await on_slot(pool, source, slot_number, op, handler, asking=not isinstance(op, MULTI_COMMAND))


def _unanswered(source: Source, where: str, timeout: float, exc: BaseException) -> SourceUnavailable:
    """A master that did not answer the health commands in time (the replies may still come: the
    pool discards the connection), or whose connection failed."""
    if isinstance(exc, asyncio.TimeoutError):
        return RedisSourceUnavailable(f"source {source.name!r}: {where} did not answer within {timeout:g}s")
    return connection_lost(source.name, where, exc)


async def _node(source: Source, pool: AsyncRedisClusterPool, node: Node, slots: int) -> dict[str, Any]:
    """As :func:`dbplex_redis.cluster_health._node`: the replies awaited at most ``connect_timeout``."""
    timeout = source.config.connect_timeout
    try:
        async with (await pool.pool_of(node)).connection() as client:
            where = address(client.connection_pool.connection_kwargs)
            try:
                asked = await cancellation.wait_for(_pipelined(connection_of(client), NODE_COMMANDS), timeout)
            except (asyncio.TimeoutError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                raise _unanswered(source, where, timeout, exc) from None
    except SourceUnavailable as exc:
        return node_entry(source, node, slots, exc)
    return node_entry(source, node, slots, asked)


async def check(source: Source, pool: AsyncPool) -> Health:
    """As :func:`dbplex_redis.cluster_health.check`, every master asked at once."""
    async with pool.connection() as client:
        cluster: AsyncRedisClusterPool = client.pool
    await cluster.refresh()
    slots = cluster.slot_map.slot_counts()
    nodes = await asyncio.gather(*(_node(source, cluster, node, count) for node, count in slots.items()))
    return summary(source, pool.stats(), list(nodes))
