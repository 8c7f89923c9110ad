"""redis-py errors turned into dbplex errors that name the source and never a password."""

from __future__ import annotations

import socket
from typing import Any

import redis
import redis.exceptions

from dbplex.backends import Source
from dbplex.errors import DbplexError, OpError, QueryError, SourceUnavailable
from dbplex.secrets import scrub


class RedisSourceUnavailable(SourceUnavailable):
    """A Redis server could not be reached, or refused the credentials."""


class RedisReadOnly(QueryError):
    """A write refused with ``READONLY``: the server is a replica now (after a failover), so the
    pool replaces its connections to find whatever the address points at now."""


def address(kwargs: dict[str, Any]) -> str:
    """Where connections go, from redis-py connection arguments: ``host:port`` or a socket path."""
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _os_error(exc: BaseException) -> OSError | None:
    """The socket error behind a redis-py error, which redis-py raises while handling it."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException, user: str | None, timeout: float) -> str:
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return f"authentication failed for user {user or 'default'!r}"
    cause = _os_error(exc)
    if isinstance(exc, redis.exceptions.TimeoutError) or isinstance(cause, socket.timeout):
        return f"no answer within {timeout:g}s (connect_timeout)"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host name ({cause.strerror})"
    if isinstance(cause, FileNotFoundError):
        return "no such socket file"
    if cause is not None and cause.strerror:
        return cause.strerror.lower()
    return scrub(str(exc)) or type(exc).__name__


def connect_failed(
    source: str, where: str, user: str | None, timeout: float, exc: BaseException
) -> RedisSourceUnavailable:
    """The error for a connection attempt that failed, with the reason a user can act on."""
    return RedisSourceUnavailable(f"source {source!r}: cannot connect to {where}: {_reason(exc, user, timeout)}")


def connection_lost(source: str, where: str, exc: BaseException, timeout: float | None = None) -> SourceUnavailable:
    """The error for a connection that broke or timed out (after ``timeout`` seconds) during a command."""
    if isinstance(exc, redis.exceptions.TimeoutError):
        kind = (
            f"no reply within {timeout:g}s (operation timeout)" if timeout else "no reply in time (operation timeout)"
        )
    else:
        kind = scrub(str(exc))
    return SourceUnavailable(f"source {source!r}: connection to {where} lost: {kind}")


def translate(source: Source, client: redis.Redis, exc: BaseException, doing: str) -> DbplexError:
    """A redis-py error while ``doing`` something, as a dbplex error naming the source."""
    if isinstance(exc, redis.exceptions.ResponseError):
        return QueryError(f"source {source.name!r}: {doing}: {scrub(str(exc))}")
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        kwargs = client.connection_pool.connection_kwargs
        return connection_lost(source.name, address(kwargs), exc, kwargs.get("socket_timeout"))
    return OpError(f"source {source.name!r}: {doing}: {scrub(str(exc))}")
