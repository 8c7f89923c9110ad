"""Run ops on a checked-out ``redis.asyncio`` client's connection: the ``dbplex_async_query`` and
``dbplex_async_health`` hooks.

The twin of :mod:`dbplex_redis.execute`: the same commands from :mod:`dbplex_redis.translate`,
the same reply decoding, the same rows and errors (:func:`~dbplex_redis.execute.failure`); only
the sends and reads are awaited. What takes more than one round trip (a Scan) is a step generator
of :mod:`dbplex_redis.translate` both executors drive, so its decisions are written once. A Scan
costs two round trips, every other op one.
"""

# redis-py's connection class is not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio
import redis.exceptions

from dbplex.aio import cancellation
from dbplex.aio.pool import AsyncPool
from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.health import Health
from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
from dbplex.result import Result
from dbplex.steps import adrive, by_kind
from dbplex_redis import translate
from dbplex_redis.aio_connector import call, connection_of, send
from dbplex_redis.errors import RedisSourceUnavailable, address, connection_lost
from dbplex_redis.execute import aborted, executed, failure, in_transaction, pipeline_result
from dbplex_redis.health import HEALTH_COMMANDS, shape
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import KEYS, Keys, ttl_ms


async def _replies(conn: Any, count: int) -> list[Any]:
    read: list[Any] = []
    for _ in range(count):
        try:
            read.append(await conn.read_response())
        except redis.exceptions.ResponseError as exc:
            read.append(exc)
    return read


async def _pipelined(conn: Any, commands: Sequence[Sequence[Any]], transaction: bool = False) -> list[Any]:
    """As :func:`dbplex_redis.execute._pipelined`: one round trip, error replies in place."""
    if not transaction:
        await send(conn, conn.pack_commands(commands))
        return await _replies(conn, len(commands))
    await send(conn, conn.pack_commands(in_transaction(commands)))
    return executed(await _replies(conn, len(commands) + 2))


async def _script(conn: Any, script_call: translate.ScriptCall) -> Any:
    script, args = script_call
    try:
        return await call(conn, ("EVALSHA", script.sha, *args))
    except redis.exceptions.NoScriptError:
        return await call(conn, ("EVAL", script.text, *args))


async def _get(conn: Any, keys: Keys, source: Source, op: Get) -> Result:
    command = translate.get(keys, op)
    found = translate.values(await call(conn, command), op.fields, command[1])
    return Result([{"key": op.key, "values": found}]) if found is not None else Result([])


async def _put(conn: Any, keys: Keys, source: Source, op: Put) -> Result:
    await _script(conn, translate.put(keys, op, ttl_ms(source.options.ttl)))
    return Result([], 1)


async def _update(conn: Any, keys: Keys, source: Source, op: Update) -> Result:
    return Result([], await _script(conn, translate.update(keys, op, ttl_ms(source.options.ttl))))


async def _delete(conn: Any, keys: Keys, source: Source, op: Delete) -> Result:
    return Result([], await _script(conn, translate.delete(keys, op)))


#: as :data:`dbplex_redis.execute.SENDS`, awaited.
_SENDS: tuple[Callable[[Any, Any], Awaitable[Any]], ...] = (call, _pipelined, _script)


async def _put_many(conn: Any, keys: Keys, source: Source, op: PutMany) -> Result:
    return Result([], await adrive(translate.put_many(keys, op, ttl_ms(source.options.ttl)), by_kind(_SENDS, conn)))


async def _scan(conn: Any, keys: Keys, source: Source, op: Scan) -> Result:
    return Result(await adrive(translate.scan(keys, op), by_kind(_SENDS, conn)))


async def _command(conn: Any, keys: Keys, source: Source, op: Command) -> Result:
    reply = await call(conn, op.args)
    return Result([{"value": translate.decode_reply(reply) if op.decode else translate.plain_reply(reply)}])


async def _pipeline(conn: Any, keys: Keys, source: Source, op: Pipeline) -> Result:
    try:
        replies = await _pipelined(conn, op.commands, op.transaction)
    except redis.exceptions.ResponseError as exc:  # a command the server would not queue
        raise aborted(source, exc) from None
    return pipeline_result(source, op, replies)


async def _publish(conn: Any, keys: Keys, source: Source, op: Publish) -> Result:
    return Result([], await call(conn, ("PUBLISH", op.channel, op.message)))


Handler = Callable[[Any, Keys, Source, Any], Awaitable[Result]]

HANDLERS: dict[type[Op], Handler] = {
    Get: _get,
    Put: _put,
    PutMany: _put_many,
    Update: _update,
    Delete: _delete,
    Scan: _scan,
    Command: _command,
    Pipeline: _pipeline,
    Publish: _publish,
}


async def execute(source: Source, conn: redis.asyncio.Redis, op: Op) -> Result:
    """Run ``op`` on a checked-out async client ``conn`` (the ``dbplex_async_query`` hook)."""
    handler = HANDLERS.get(type(op))
    if handler is None:
        raise UnsupportedError(
            f"source {source.name!r}: the {source.backend} backend does not run {type(op).__name__} ops"
        )
    try:
        return await handler(connection_of(conn), KEYS[source.options.prefix], source, op)
    except Exception as exc:
        error = failure(source, op, exc, conn.connection_pool.connection_kwargs)
        if error is exc:
            raise
        raise error from None


async def check(source: Source, pool: AsyncPool) -> Health:
    """As :func:`dbplex_redis.health.check`: the health commands in one round trip, the wait
    bounded by ``connect_timeout``."""
    timeout = source.config.connect_timeout
    async with pool.connection() as client:
        where = address(client.connection_pool.connection_kwargs)
        conn = connection_of(client)
        commands = HEALTH_COMMANDS
        try:
            await send(conn, conn.pack_commands(commands))
            replies = await cancellation.wait_for(_replies(conn, len(commands)), timeout)
        except asyncio.TimeoutError:  # the replies may still come: the pool discards the connection
            raise RedisSourceUnavailable(
                f"source {source.name!r}: {where} did not answer within {timeout:g}s"
            ) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise connection_lost(source.name, where, exc) from None
    return shape(source, pool.stats(), *replies)
