"""Run ops on a checked-out client's connection and return :class:`~dbplex.result.Result`.

Every op sends its commands on the one connection of the client the pool handed out, and reads
the replies as the server sent them: through redis-py's public ``Connection`` methods
(``pack_commands``, ``send_packed_command``, ``read_response``), without its client layer (reply
callbacks, retry wrapping, its own metrics), which dbplex does not use and which costs more
than the rest of an op. A pipeline is its commands packed into one write; a transaction the
same between ``MULTI`` and ``EXEC``. A Scan costs two round trips (the index, then every record
in one pipeline); every other op one (a PutMany's put scripts go in one pipeline).
"""

# redis-py's connection class is not annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import DbplexError, OpError, QueryError, UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
from dbplex.result import Result
from dbplex.secrets import scrub
from dbplex.steps import by_kind, drive
from dbplex_redis import translate
from dbplex_redis.connector import connection_of
from dbplex_redis.errors import RedisReadOnly, address, connection_lost
from dbplex_redis.ops import Command, Pipeline, Publish
from dbplex_redis.translate import KEYS, Keys, ttl_ms

_NoScriptError = redis.exceptions.NoScriptError
#: Redis Cluster's redirections and outages, by the code their error reply starts with.
REDIRECTS = frozenset({"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"})
#: redirections after which a command did not run (and running it again is safe).
MOVED = frozenset({"MOVED", "ASK", "TRYAGAIN"})
_REDIRECT_CLASSES = (
    (redis.exceptions.MovedError, "MOVED"),  # (before AskError: MovedError is one)
    (redis.exceptions.AskError, "ASK"),
    (redis.exceptions.TryAgainError, "TRYAGAIN"),
    (redis.exceptions.ClusterDownError, "CLUSTERDOWN"),
)
T = TypeVar("T")


def redirection(exc: BaseException) -> str | None:
    """``MOVED``, ``ASK``, ``TRYAGAIN`` or ``CLUSTERDOWN`` for a Redis Cluster's redirection or outage
    reply, else None. redis-py gives these replies their own classes on cluster connections (and,
    since 6, on every connection); before, they are plain ``ResponseError`` s named by their code."""
    for cls, code in _REDIRECT_CLASSES:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, redis.exceptions.ResponseError):
        code = str(exc).partition(" ")[0]
        if code in REDIRECTS:
            return code
    return None


def _call(conn: Any, command: Sequence[Any]) -> Any:
    """One command; its reply, or its error reply raised."""
    conn.send_command(*command)
    return conn.read_response()


def replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies in order, error replies in place as exceptions."""
    read: list[Any] = []
    for _ in range(count):
        try:
            read.append(conn.read_response())
        except redis.exceptions.ResponseError as exc:
            read.append(exc)
    return read


def _pipelined(conn: Any, commands: Sequence[Sequence[Any]], transaction: bool = False) -> list[Any]:
    """Several commands in one round trip; replies in order, error replies in place as exceptions
    (in a transaction, a refusal to queue raised: :func:`executed`)."""
    if not transaction:
        conn.send_packed_command(conn.pack_commands(commands))
        return replies(conn, len(commands))
    conn.send_packed_command(conn.pack_commands(in_transaction(commands)))
    return executed(replies(conn, len(commands) + 2))


def in_transaction(commands: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """``commands`` between ``MULTI`` and ``EXEC``, to send in one write."""
    return [("MULTI",), *commands, ("EXEC",)]


def executed(replies: list[Any]) -> list[Any]:
    """The replies of a transaction's commands, from all its replies in order (``MULTI``'s, a
    ``QUEUED`` or a refusal per command, ``EXEC``'s; error replies in place). A command the server
    refused to queue aborts the transaction: that refusal is raised (a redirection as such, for
    the cluster backend to follow), and no command ran. Shared with the asyncio executor."""
    *queued, done = replies
    if isinstance(done, Exception):  # EXECABORT: the refusal says why
        raise next((reply for reply in queued if isinstance(reply, Exception)), done)
    if done is None:  # (no WATCH here, but never a TypeError)
        raise redis.exceptions.ResponseError("the transaction was aborted")
    return list(done)


def _script(conn: Any, call: translate.ScriptCall) -> Any:
    script, args = call
    try:
        return _call(conn, ("EVALSHA", script.sha, *args))
    except _NoScriptError:  # first use on this server, or its script cache was flushed
        return _call(conn, ("EVAL", script.text, *args))


def _get(conn: Any, keys: Keys, source: Source, op: Get) -> Result:
    command = translate.get(keys, op)
    found = translate.values(_call(conn, command), op.fields, command[1])
    return Result([{"key": op.key, "values": found}]) if found is not None else Result([])


def _put(conn: Any, keys: Keys, source: Source, op: Put) -> Result:
    _script(conn, translate.put(keys, op, ttl_ms(source.options.ttl)))
    return Result([], 1)


def _put_many(conn: Any, keys: Keys, source: Source, op: PutMany) -> Result:
    return Result([], drive(translate.put_many(keys, op, ttl_ms(source.options.ttl)), by_kind(SENDS, conn)))


def _update(conn: Any, keys: Keys, source: Source, op: Update) -> Result:
    return Result([], _script(conn, translate.update(keys, op, ttl_ms(source.options.ttl))))


def _delete(conn: Any, keys: Keys, source: Source, op: Delete) -> Result:
    return Result([], _script(conn, translate.delete(keys, op)))


#: how this executor answers each kind of :func:`dbplex_redis.translate.scan` step.
SENDS: tuple[Callable[[Any, Any], Any], ...] = (_call, _pipelined, _script)


def _scan(conn: Any, keys: Keys, source: Source, op: Scan) -> Result:
    return Result(drive(translate.scan(keys, op), by_kind(SENDS, conn)))


def _command(conn: Any, keys: Keys, source: Source, op: Command) -> Result:
    reply = _call(conn, op.args)
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


def pipelined(source: Source, conn: Any, commands: Sequence[Sequence[Any]], transaction: bool) -> list[Any]:
    """:func:`_pipelined`, with a transaction the server refused to queue raised as QueryError."""
    try:
        return _pipelined(conn, commands, transaction)
    except redis.exceptions.ResponseError as exc:  # a command the server would not queue
        raise aborted(source, exc) from None


def aborted(source: Source, exc: redis.exceptions.ResponseError) -> Exception:
    """What a transaction the server refused to queue raises: QueryError, or a redirection as it
    is (a transaction sent to a node that does not serve its slot now: the caller's to follow)."""
    if redirection(exc):
        return exc
    return QueryError(
        f"source {source.name!r}: redis.pipeline: {scrub(str(exc))}; the transaction was aborted, no command ran"
    )


def _pipeline(conn: Any, keys: Keys, source: Source, op: Pipeline) -> Result:
    return pipeline_result(source, op, pipelined(source, conn, op.commands, op.transaction))


def _publish(conn: Any, keys: Keys, source: Source, op: Publish) -> Result:
    return Result([], _call(conn, ("PUBLISH", op.channel, op.message)))


Handler = Callable[[Any, Keys, Source, Any], Result]

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


def _describe(op: Op) -> str:
    tag = op.__struct_config__.tag
    if isinstance(op, Command):
        return f"{tag} {translate.command_name(op.args)}"
    if isinstance(op, Scan | PutMany):
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
    handler: Callable[[Any, Keys, Source, Any], T],
    client: redis.Redis,
    keys: Keys,
    source: Source,
    op: Op,
    redirects: bool = False,
) -> T:
    """``handler`` on the client's connection; server errors become QueryError (a ``READONLY``
    refusal :class:`~dbplex_redis.errors.RedisReadOnly`), connection failures SourceUnavailable.

    With ``redirects``, a cluster's redirection or outage reply (:func:`redirection`) is raised as
    it is, for the cluster backend to follow.
    """
    try:
        return handler(connection_of(client), keys, source, op)
    except Exception as exc:
        error = failure(source, op, exc, client.connection_pool.connection_kwargs, redirects)
        if error is exc:
            raise
        raise error from None


def failure(source: Source, op: Op, exc: Exception, kwargs: dict[str, Any], redirects: bool = False) -> Exception:
    """What an op that raised ``exc`` raises: server errors as QueryError (a ``READONLY`` refusal
    :class:`~dbplex_redis.errors.RedisReadOnly`), connection failures as SourceUnavailable, bad
    input as OpError; dbplex's own errors (and, with ``redirects``, a cluster's redirection) as they are.
    Shared by the sync and asyncio executors (redis-py raises the same classes in both)."""
    if isinstance(exc, DbplexError):
        return exc
    if isinstance(exc, translate.NotARecord):
        return QueryError(f"source {source.name!r}: {_describe(op)}: {exc}")
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return RedisReadOnly(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}")
    if isinstance(exc, redis.exceptions.ResponseError):
        if redirects and redirection(exc):
            return exc
        return QueryError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}")
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return connection_lost(source.name, address(kwargs), exc, kwargs.get("socket_timeout"))
    if isinstance(exc, redis.exceptions.DataError | UnicodeEncodeError):
        return OpError(f"source {source.name!r}: {_describe(op)}: {scrub(str(exc))}")
    return exc


def execute(source: Source, conn: redis.Redis, op: Op) -> Result:
    """Run ``op`` on a checked-out client ``conn`` (the ``dbplex_query`` hook)."""
    return run(handler_for(source, op), conn, KEYS[source.options.prefix], source, op)
