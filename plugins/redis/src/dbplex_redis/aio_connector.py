"""What dbplex's asyncio pool needs from Redis: one ``redis.asyncio.Redis`` per pooled connection.

The twin of :mod:`dbplex_redis.connector`: a ``redis.asyncio.Redis`` over a
``redis.asyncio.ConnectionPool`` of one connection, taken once when it opens and used directly
by :mod:`dbplex_redis.aio_execute` through the public ``Connection`` coroutines. The same
arguments (:func:`~dbplex_redis.connector.client_kwargs` with ``asyncio=True``), the same
retry policy (none: the pool paces reconnects) and the same classification of errors.

``connect_timeout`` bounds the whole open (TCP connect and the ``HELLO``/``AUTH``/``SELECT``
handshake) with ``asyncio.wait_for`` (:func:`dbplex.aio.cancellation.wait_for`). ``usable`` is the connection's ``is_connected``: unlike
the sync connector it cannot look at the socket without awaiting, so a connection the server
closed while idle is found by the op that uses it (which fails with SourceUnavailable, and the
pool discards the connection).
"""

# redis-py is not fully annotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import redis.asyncio
import redis.exceptions

from dbplex.aio import cancellation
from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.pooling.connector import Disposition
from dbplex_redis import connector as sync
from dbplex_redis.errors import address, connect_failed

_NAMED_CHECKOUT = sync.named_checkout(redis.asyncio.ConnectionPool.get_connection)
_CONNECTIONS: weakref.WeakKeyDictionary[redis.asyncio.Redis, Any] = weakref.WeakKeyDictionary()


def connection_of(client: redis.asyncio.Redis) -> Any:
    """The ``redis.asyncio.Connection`` of a client :meth:`AsyncRedisConnector.open` opened."""
    return _CONNECTIONS[client]


async def send(conn: Any, packed: Any) -> None:
    """``send_packed_command``, and a cancellation it lost raised (redis-py sends under
    ``asyncio.wait_for``: :mod:`dbplex.aio.cancellation`), before the reply is awaited."""
    before = cancellation.requests()
    await conn.send_packed_command(packed)
    cancellation.deliver(before)


async def call(conn: Any, command: Sequence[Any]) -> Any:
    """One command and its reply, on a ``redis.asyncio`` connection."""
    await send(conn, conn.pack_command(*command))
    return await conn.read_response()


class AsyncRedisConnector:
    """The :class:`~dbplex.pooling.connector.AsyncConnector` of one Redis server (``dbplex_async_connect``;
    a cluster node's with the ``kwargs`` of :func:`~dbplex_redis.cluster_nodes.node_kwargs`)."""

    def __init__(self, source: Source, kwargs: dict[str, Any] | None = None) -> None:
        self.source = source
        self.kwargs = kwargs if kwargs is not None else sync.client_kwargs(source, asyncio=True)
        self.where = address(self.kwargs)

    async def open(self) -> redis.asyncio.Redis:
        pool = redis.asyncio.ConnectionPool(max_connections=1, **self.kwargs)
        client = redis.asyncio.Redis(connection_pool=pool)
        budget = float(self.kwargs["socket_connect_timeout"] or sync.DEFAULT_OPERATION_TIMEOUT)
        try:
            checkout = pool.get_connection("_") if _NAMED_CHECKOUT else pool.get_connection()
            raw = await cancellation.wait_for(checkout, budget)
            await pool.release(raw)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await pool.disconnect()
            if not isinstance(exc, Exception):
                raise  # cancelled: the caller's, as it is
            reason = redis.exceptions.TimeoutError("no answer") if isinstance(exc, asyncio.TimeoutError) else exc
            raise connect_failed(self.source.name, self.where, self.kwargs.get("username"), budget, reason) from None
        _CONNECTIONS[client] = raw
        return client

    def usable(self, conn: redis.asyncio.Redis) -> bool:
        raw = _CONNECTIONS.get(conn)
        return raw is not None and bool(raw.is_connected)

    async def ping(self, conn: redis.asyncio.Redis) -> None:
        raw = connection_of(conn)
        await call(raw, ["PING"])

    async def reset(self, conn: redis.asyncio.Redis, failed: bool) -> bool:
        return True  # dbplex changes no session state on a Redis connection

    async def close(self, conn: redis.asyncio.Redis) -> None:
        with contextlib.suppress(Exception):
            await conn.connection_pool.disconnect()

    def classify(self, conn: redis.asyncio.Redis, exc: BaseException) -> Disposition:
        return sync.classify(exc)

    def transaction(self, conn: redis.asyncio.Redis) -> AbstractAsyncContextManager[redis.asyncio.Redis]:
        raise UnsupportedError(sync.no_transactions(self.source.name))
