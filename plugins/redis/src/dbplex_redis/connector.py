"""What the core pool needs from Redis: one ``redis.Redis`` client per pooled connection.

The pooled object is a plain ``redis.Redis`` whose own ``redis.ConnectionPool`` holds exactly
one connection, opened by :meth:`RedisConnector.open`. It is what ``hub.connection()`` yields,
so a user gets redis-py's whole client API on a connection that is theirs until the ``with``
block ends; the executor sends commands and reads raw replies on the same connection
(:func:`connection_of`) through the public ``Connection`` methods.

Only redis-py's public API is used (constructor arguments, ``ConnectionPool.from_url``,
``connection_kwargs``, ``get_connection``, ``release``, ``disconnect`` and the ``Connection``
methods ``send_packed_command``, ``pack_commands``, ``read_response``, ``can_read``). What
redis-py lacks, dbplex does here:

- ``connect_timeout`` bounds the whole open, not only the TCP connect: redis-py runs the
  handshake (``HELLO``, ``AUTH``, ``SELECT``) on the operation timeout, so a server that accepts
  and never answers would hold the open for that long. A watchdog timer disconnects the
  connection when the budget is spent, which makes the blocked read fail at once.
- redis-py's own retries are off (``Retry(NoBackoff(), 0)``): the core pool paces reconnects.
"""

# redis-py is not fully annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from dbplex.backends import Source
from dbplex.errors import ConfigError, SourceUnavailable, UnsupportedError
from dbplex.pooling.connector import Disposition
from dbplex.secrets import scrub
from dbplex_redis.errors import RedisReadOnly, address, connect_failed

#: seconds a command waits for its reply when nothing else says, set here so that it does not
#: change with the redis-py release (redis-py 5 waits for ever by default).
DEFAULT_OPERATION_TIMEOUT = 5.0
#: errors that mean the connection itself broke (closed, reset, timed out mid-reply).
BROKEN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, SourceUnavailable)


#: each open client's one connection. The client's pool holds it, and the core pool lends the
#: client to one caller at a time, so dbplex uses it directly, without redis-py's checkout per
#: command (a lock and a second look at the socket).
_CONNECTIONS: weakref.WeakKeyDictionary[redis.Redis, Any] = weakref.WeakKeyDictionary()


def _checkout(pool: redis.ConnectionPool) -> Any:
    """The one connection of a client's pool (``ConnectionPool.get_connection``, whatever the release)."""
    return pool.get_connection("_") if _NAMED_CHECKOUT else pool.get_connection()


def named_checkout(get_connection: Any) -> bool:
    """Whether a pool's ``get_connection`` still requires a command name (redis-py before 5.3)."""
    parameters = inspect.signature(get_connection).parameters
    return "command_name" in parameters and parameters["command_name"].default is inspect.Parameter.empty


# ConnectionPool.get_connection took a command name until redis-py 5.3 and warns about one since.
_NAMED_CHECKOUT = named_checkout(redis.ConnectionPool.get_connection)


def connection_of(client: redis.Redis) -> Any:
    """The ``redis.Connection`` of a client :meth:`RedisConnector.open` opened."""
    return _CONNECTIONS[client]


def check_database_path(url: str) -> None:
    """ValueError unless a ``redis://`` URL's path is empty or a database number.

    redis-py reads ``redis://host/notadb`` as database 0 without a word, which would put the data
    somewhere the user did not ask for. The path is not echoed: in a URL whose password holds
    an unencoded ``/`` it would be part of the password.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        return  # unix:// names the database in ?db=, which redis-py checks itself
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("the URL's path is not a database number; write redis://host:port/N with N from 0")


def operation_timeout(source: Source, from_url: float | None = None) -> float:
    """How long a command waits for its reply (redis-py's ``socket_timeout``): the source's
    ``options.socket_timeout``, else its ``operation_timeout``, else the URL's
    ``socket_timeout``, else :data:`DEFAULT_OPERATION_TIMEOUT`."""
    return source.options.socket_timeout or source.config.operation_timeout or from_url or DEFAULT_OPERATION_TIMEOUT


def client_kwargs(source: Source, url: str | None = None, *, asyncio: bool = False) -> dict[str, Any]:
    """``redis.ConnectionPool`` arguments for ``url`` (the source's by default): the URL's, read by
    redis-py's ``ConnectionPool.from_url``, then the source's settings over them.

    ConfigError for a URL redis-py would refuse only when it connects (an unknown option, a bad
    ``protocol``), so that such a source fails when it opens. With ``asyncio``, the arguments of
    ``redis.asyncio.ConnectionPool`` (its connection class and retry policy).
    """
    url = url or source.url
    pool_class: Any = redis.ConnectionPool
    retry_class: Any = Retry
    if asyncio:  # imported here: a sync application does not import asyncio for it
        from redis.asyncio import ConnectionPool as AsyncConnectionPool
        from redis.asyncio.retry import Retry as AsyncRetry

        pool_class, retry_class = AsyncConnectionPool, AsyncRetry
    try:
        check_database_path(url)
        parsed = pool_class.from_url(url)
    except ValueError as exc:
        raise ConfigError(f"source {source.name!r}: {scrub(str(exc))}") from None
    kwargs: dict[str, Any] = dict(parsed.connection_kwargs)
    for pool_setting in ("max_connections", "timeout"):  # the source's pool settings decide these
        kwargs.pop(pool_setting, None)
    kwargs.setdefault("protocol", 3)  # RESP3 whatever redis-py's default: maps, doubles and booleans as such
    kwargs["decode_responses"] = False  # replies are decoded by dbplex: values are MessagePack bytes
    kwargs["socket_connect_timeout"] = source.config.connect_timeout
    kwargs["socket_timeout"] = operation_timeout(source, kwargs.get("socket_timeout"))
    kwargs["retry"] = retry_class(NoBackoff(), 0)  # the core pool retries, paced by its backoff
    try:  # a connection object, never opened: redis-py checks some options only here
        parsed.connection_class(**kwargs)
    except (TypeError, ValueError, redis.exceptions.RedisError) as exc:
        raise ConfigError(
            f"source {source.name!r}: a URL option is not valid for redis-py: {scrub(str(exc))}"
        ) from None
    kwargs["connection_class"] = parsed.connection_class
    return kwargs


def new_client(kwargs: dict[str, Any]) -> redis.Redis:
    """A client over a pool of one connection (not opened yet)."""
    return redis.Redis(connection_pool=redis.ConnectionPool(max_connections=1, **kwargs))


class RedisConnector:
    """The :class:`~dbplex.pooling.connector.Connector` of one Redis server (a source, or a cluster node)."""

    def __init__(self, source: Source, kwargs: dict[str, Any] | None = None) -> None:
        self.source = source
        self.kwargs = kwargs if kwargs is not None else client_kwargs(source)
        #: where connections go, for messages: ``host:port`` or a socket path.
        self.where = address(self.kwargs)

    def open(self) -> redis.Redis:
        client = new_client(self.kwargs)
        pool = client.connection_pool
        budget = float(self.kwargs["socket_connect_timeout"] or DEFAULT_OPERATION_TIMEOUT)
        expired = threading.Event()

        def give_up() -> None:
            expired.set()
            pool.disconnect()  # a read blocked in the handshake fails now

        watchdog = threading.Timer(budget, give_up)
        watchdog.daemon = True
        watchdog.start()
        try:
            raw = _checkout(pool)
            pool.release(raw)
            if expired.is_set():
                raise redis.exceptions.TimeoutError("the handshake ran past connect_timeout")
        except Exception as exc:
            pool.disconnect()
            reason = redis.exceptions.TimeoutError("no answer") if expired.is_set() else exc
            raise connect_failed(self.source.name, self.where, self.kwargs.get("username"), budget, reason) from None
        finally:
            watchdog.cancel()
        _CONNECTIONS[client] = raw
        return client

    def usable(self, conn: redis.Redis) -> bool:
        """No unread goodbye (a server that closed it, e.g. ``CLIENT KILL`` or ``timeout``): a
        non-blocking look at the socket, so the pool replaces it and counts it lost (redis-py
        would reconnect it unseen at the next command). A connection redis-py closed itself on
        purpose (a subscription that ended) is opened again here, by redis-py."""
        raw = _CONNECTIONS.get(conn)
        if raw is None:
            return False
        try:
            return not raw.can_read(timeout=0)
        except (redis.exceptions.RedisError, OSError):
            return False

    def ping(self, conn: redis.Redis) -> None:
        raw = connection_of(conn)
        raw.send_command("PING")
        raw.read_response()

    def reset(self, conn: redis.Redis, failed: bool) -> bool:
        return True  # dbplex changes no session state on a Redis connection

    def close(self, conn: redis.Redis) -> None:
        with contextlib.suppress(Exception):
            conn.connection_pool.disconnect()

    def classify(self, conn: redis.Redis, exc: BaseException) -> Disposition:
        return classify(exc)

    def transaction(self, conn: redis.Redis) -> AbstractContextManager[redis.Redis]:
        raise UnsupportedError(no_transactions(self.source.name))


def classify(exc: BaseException) -> Disposition:
    """What an error raised on a checked-out connection means for the pool (sync and asyncio alike)."""
    if isinstance(exc, RedisReadOnly | redis.exceptions.ReadOnlyError):
        return Disposition.DRAIN  # the server became a replica (a failover): reconnect everything
    if isinstance(exc, BROKEN):
        return Disposition.DISCARD
    return Disposition.KEEP


def no_transactions(source: str) -> str:
    return (
        f"source {source!r}: Redis transactions (MULTI/EXEC) cannot return reads to the "
        "commands inside them; use the redis.pipeline op with transaction=true for an atomic batch"
    )
