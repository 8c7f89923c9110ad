"""Run ops on a source's connections and return :class:`~dbplex.result.Result`.

Every op sends its commands on a connection borrowed from the source's pool, and reads the
replies as the server sent them: without redis-py's client layer (reply callbacks, retry
wrapping, its own metrics), which dbplex does not use and which costs more than the rest
of an op. A Scan costs two round trips (the index, then every record in one pipeline);
every other op one.
"""

# redis-py's connection and pipeline classes are not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.exceptions
from redis.client import Pipeline as RedisPipeline
from redis.connection import ConnectionPool

from dbplex.backends import Source
from dbplex.errors import DbplexError, OpError, QueryError, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex_redis import translate
from dbplex_redis.errors import address, connection_lost
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import KEYS, ttl_ms

_NoScriptError = redis.exceptions.NoScriptError


def _call(pool: ConnectionPool, *args: Any) -> Any:
    """One command on a pooled connection; its reply, or its error reply raised."""
    conn = pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:  # a connection that failed mid-command was closed by redis-py; the pool reopens it
        pool.release(conn)


def _pipelined(pool: ConnectionPool, commands: Sequence[Sequence[Any]], transaction: bool) -> list[Any]:
    """Several commands in one round trip; replies in order, error replies in place as exceptions."""
    pipe = RedisPipeline(pool, {}, transaction, None)  # no reply callbacks: replies as sent
    for args in commands:
        pipe.execute_command(*args)
    return pipe.execute(raise_on_error=False)


def _script(pool: ConnectionPool, call: translate.ScriptCall) -> Any:
    script, args = call
    try:
        return _call(pool, "EVALSHA", script.sha, *args)
    except _NoScriptError:  # first use on this server, or its script cache was flushed
        return _call(pool, "EVAL", script.text, *args)


def _get(client: redis.Redis, source: Source, op: Get) -> Result:
    command = translate.get(KEYS[source.options.prefix], op)
    found = translate.values(_call(client.connection_pool, *command), op.fields, command[1])
    return Result([{"key": op.key, "values": found}]) if found is not None else Result([])


def _put(client: redis.Redis, source: Source, op: Put) -> Result:
    options = source.options
    _script(client.connection_pool, translate.put(KEYS[options.prefix], op, ttl_ms(options.ttl)))
    return Result([], 1)


def _update(client: redis.Redis, source: Source, op: Update) -> Result:
    options = source.options
    return Result([], _script(client.connection_pool, translate.update(KEYS[options.prefix], op, ttl_ms(options.ttl))))


def _delete(client: redis.Redis, source: Source, op: Delete) -> Result:
    return Result([], _script(client.connection_pool, translate.delete(KEYS[source.options.prefix], op)))


def _scan(client: redis.Redis, source: Source, op: Scan) -> Result:
    """Keys from the index, then their records; index entries of expired records are dropped."""
    pool, keys = client.connection_pool, KEYS[source.options.prefix]
    rows: list[dict[str, Any]] = []
    lower, wanted = translate.from_key(op.start_key), op.limit
    while True:
        members = _call(pool, *translate.scan_keys(keys, op.table, lower, wanted))
        if not members:
            break
        names, reads = translate.scan_reads(keys, op, members)
        missing = []
        for name, command, reply in zip(names, reads, _pipelined(pool, reads, False), strict=True):
            if isinstance(reply, Exception):
                raise reply
            found = translate.values(reply, op.fields, command[1])
            if found is None:
                missing.append(name)
            else:
                rows.append({"key": name, "values": found})
        if missing:
            _script(pool, translate.prune(keys, op.table, missing))
        if not missing or len(members) < wanted:
            break
        lower, wanted = translate.after_key(names[-1]), op.limit - len(rows)
    return Result(rows)


def _command(client: redis.Redis, source: Source, op: Command) -> Result:
    reply = _call(client.connection_pool, *op.args)
    return Result([{"value": translate.decode_reply(reply) if op.decode else translate.plain_reply(reply)}])


def _pipeline(client: redis.Redis, source: Source, op: Pipeline) -> Result:
    try:
        replies = _pipelined(client.connection_pool, op.commands, op.transaction)
    except redis.exceptions.ResponseError as exc:  # a command the server would not queue
        raise QueryError(
            f"source {source.name!r}: redis.pipeline: {scrub(str(exc))}; the transaction was aborted, no command ran"
        ) from None
    convert = translate.decode_reply if op.decode else translate.plain_reply
    rows: list[dict[str, Any]] = []
    for number, (args, reply) in enumerate(zip(op.commands, replies, strict=True), 1):
        if not isinstance(reply, Exception):
            rows.append({"value": convert(reply)})
        elif op.raise_on_error:
            others = "; the other commands ran (Redis has no rollback)" if len(op.commands) > 1 else ""
            raise QueryError(
                f"source {source.name!r}: redis.pipeline: command {number} of {len(op.commands)} "
                f"({translate.command_name(args)}) failed: {scrub(str(reply))}{others}"
            )
        else:
            rows.append({"error": scrub(str(reply))})
    return Result(rows)


def _publish(client: redis.Redis, source: Source, op: Publish) -> Result:
    return Result([], _call(client.connection_pool, "PUBLISH", op.channel, op.message))


Handler = Callable[[redis.Redis, Source, Any], Result]

HANDLERS: dict[type[Op], Handler] = {
    Get: _get,
    Put: _put,
    Update: _update,
    Delete: _delete,
    Scan: _scan,
    Command: _command,
    Pipeline: _pipeline,
    Publish: _publish,
}


def _describe(op: Op) -> str:
    tag = op.__struct_config__.tag
    if isinstance(op, Command):
        return f"{tag} {translate.command_name(op.args)}"
    if isinstance(op, Scan):
        return f"{tag} {op.table}"
    if isinstance(op, Get | Put | Update | Delete):
        return f"{tag} {op.table}/{op.key}"
    return str(tag)


def execute(source: Source, client: redis.Redis, op: Op) -> Result:
    """Run ``op``; server errors become QueryError, connection failures SourceUnavailable."""
    handler = HANDLERS.get(type(op))
    if handler is None:
        raise UnsupportedError(f"source {source.name!r}: the redis backend does not run {type(op).__name__} ops")
    try:
        return handler(client, source, op)
    except DbplexError:
        raise
    except translate.NotARecord as exc:
        raise QueryError(f"source {source.name!r}: {_describe(op)}: {exc}") from None
    except redis.exceptions.ResponseError as exc:
        raise QueryError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise connection_lost(source.name, address(client.connection_pool.connection_kwargs), exc) from None
    except (redis.exceptions.DataError, UnicodeEncodeError) as exc:
        raise OpError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}") from None
