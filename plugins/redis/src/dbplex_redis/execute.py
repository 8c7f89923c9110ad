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
from typing import Any, TypeVar

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
from dbplex_redis.translate import KEYS, Keys, ttl_ms

_NoScriptError = redis.exceptions.NoScriptError
#: Redis Cluster's redirections and outages: never a QueryError here, for the cluster backend
#: follows them (refreshes its slot map and retries, or sends ASKING) or reports the node down.
REDIRECTS = (
    redis.exceptions.MovedError,  # (a subclass of AskError)
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
T = TypeVar("T")


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


def _get(pool: ConnectionPool, keys: Keys, source: Source, op: Get) -> Result:
    command = translate.get(keys, op)
    found = translate.values(_call(pool, *command), op.fields, command[1])
    return Result([{"key": op.key, "values": found}]) if found is not None else Result([])


def _put(pool: ConnectionPool, keys: Keys, source: Source, op: Put) -> Result:
    _script(pool, translate.put(keys, op, ttl_ms(source.options.ttl)))
    return Result([], 1)


def _update(pool: ConnectionPool, keys: Keys, source: Source, op: Update) -> Result:
    return Result([], _script(pool, translate.update(keys, op, ttl_ms(source.options.ttl))))


def _delete(pool: ConnectionPool, keys: Keys, source: Source, op: Delete) -> Result:
    return Result([], _script(pool, translate.delete(keys, op)))


def _scan(pool: ConnectionPool, keys: Keys, source: Source, op: Scan) -> Result:
    """Keys from the index, then their records; index entries of expired records are dropped."""
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


def _command(pool: ConnectionPool, keys: Keys, source: Source, op: Command) -> Result:
    reply = _call(pool, *op.args)
    return Result([{"value": translate.decode_reply(reply) if op.decode else translate.plain_reply(reply)}])


def pipeline_result(source: Source, op: Pipeline, replies: Sequence[Any]) -> Result:
    """The rows of a pipeline's replies (in the order of its commands), or QueryError for a failed one."""
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


def pipelined(source: Source, pool: ConnectionPool, commands: Sequence[Sequence[Any]], transaction: bool) -> list[Any]:
    """:func:`_pipelined`, with a transaction the server refused to queue raised as QueryError."""
    try:
        return _pipelined(pool, commands, transaction)
    except REDIRECTS:  # a transaction sent to a node that does not serve its slot (now): the caller's to follow
        raise
    except redis.exceptions.ResponseError as exc:  # a command the server would not queue
        raise QueryError(
            f"source {source.name!r}: redis.pipeline: {scrub(str(exc))}; the transaction was aborted, no command ran"
        ) from None


def _pipeline(pool: ConnectionPool, keys: Keys, source: Source, op: Pipeline) -> Result:
    return pipeline_result(source, op, pipelined(source, pool, op.commands, op.transaction))


def _publish(pool: ConnectionPool, keys: Keys, source: Source, op: Publish) -> Result:
    return Result([], _call(pool, "PUBLISH", op.channel, op.message))


Handler = Callable[[ConnectionPool, Keys, Source, Any], Result]

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


def handler_for(source: Source, op: Op) -> Handler:
    """The function running ``op``; UnsupportedError for an op this backend does not know."""
    handler = HANDLERS.get(type(op))
    if handler is None:
        raise UnsupportedError(
            f"source {source.name!r}: the {source.backend} backend does not run {type(op).__name__} ops"
        )
    return handler


def run(
    handler: Callable[[ConnectionPool, Keys, Source, Any], T],
    pool: ConnectionPool,
    keys: Keys,
    source: Source,
    op: Op,
    passthrough: tuple[type[Exception], ...] = (),
) -> T:
    """``handler`` on ``pool``; server errors become QueryError, connection failures SourceUnavailable.

    Errors of a type in ``passthrough`` are raised as they are, for the caller to handle (the
    cluster backend's redirections).
    """
    try:
        return handler(pool, keys, source, op)
    except DbplexError:
        raise
    except passthrough:
        raise
    except translate.NotARecord as exc:
        raise QueryError(f"source {source.name!r}: {_describe(op)}: {exc}") from None
    except redis.exceptions.ResponseError as exc:
        raise QueryError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        kwargs = pool.connection_kwargs
        raise connection_lost(source.name, address(kwargs), exc, kwargs.get("socket_timeout")) from None
    except (redis.exceptions.DataError, UnicodeEncodeError) as exc:
        raise OpError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}") from None


def execute(source: Source, client: redis.Redis, op: Op) -> Result:
    """Run ``op`` on the source's client (the ``dbplex_query`` hook)."""
    return run(handler_for(source, op), client.connection_pool, KEYS[source.options.prefix], source, op)
