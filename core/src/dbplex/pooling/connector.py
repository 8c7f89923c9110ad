"""The small part of a pool that depends on the database: what ``dbplex_connect`` returns.

The core pool (:mod:`dbplex.pooling.pool`) owns every behaviour dbplex promises of a pool:
bounds, waiting, lifetimes, idle reaping, keepalive, reconnect backoff, leak reports, fork
safety, resizing and the stats. It asks the backend only what it cannot know itself, through
a :class:`Connector`: how to open one native connection, whether one is still usable, how to
hand it back clean, how to close it, and what an error raised while it was in use means.
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol, TypeVar

C = TypeVar("C")


class Disposition(enum.Enum):
    """What an error raised while a connection was checked out means for the pool."""

    #: the connection is fine (a constraint violation, a bad query): return it.
    KEEP = "keep"
    #: the connection is broken (socket closed, protocol out of step): close it, count it lost.
    DISCARD = "discard"
    #: the endpoint itself changed role (a write refused by a server now in recovery or a
    #: replica): close every connection, so new ones find whatever the address points at now.
    DRAIN = "drain"


class Connector(Protocol[C]):
    """One backend's way to open, check, reset and close its native connections.

    Every method but :meth:`open`, :meth:`ping` and :meth:`classify` must be cheap and must not do I/O that
    can block: the pool calls them on every checkout and return.
    """

    def open(self) -> C:
        """Open one native connection, giving up within the source's ``connect_timeout``.

        Raise :class:`~dbplex.errors.SourceUnavailable` naming the source and the reason
        (never the password). The pool times the call and paces retries.
        """
        ...

    def usable(self, conn: C) -> bool:
        """Whether an idle connection can be handed out without a round trip (not closed, no
        unread goodbye from the server). False makes the pool close and replace it; must not
        raise (it runs on the checkout path, outside any error handling)."""
        ...

    def ping(self, conn: C) -> None:
        """One round trip proving the connection works (keepalive); raise if it does not."""
        ...

    def reset(self, conn: C, failed: bool) -> bool:
        """Make a returned connection ready for its next user (end a transaction the user left
        open: roll back when ``failed``, else commit; restore session settings). Return False
        when that is impossible, and the pool closes it instead."""
        ...

    def close(self, conn: C) -> None:
        """Close the connection; must not raise for one that is already broken."""
        ...

    def classify(self, conn: C, exc: BaseException) -> Disposition:
        """What ``exc``, raised while ``conn`` was checked out, means for the pool. May ask the
        server (one round trip) when the error alone cannot tell, e.g. a read-only refusal."""
        ...

    def transaction(self, conn: C) -> AbstractContextManager[C]:
        """Run the block in a transaction on ``conn``: commit on success, roll back on error.

        Raise :class:`~dbplex.errors.UnsupportedError` where the backend has none.
        """
        ...


class AsyncConnector(Protocol[C]):
    """The asyncio twin of :class:`Connector`, for :class:`~dbplex.pooling.async_pool.AsyncConnectorPool`
    (the ``dbplex_async_connect`` hook). The I/O methods are coroutines; :meth:`usable` and
    :meth:`classify` stay plain calls without I/O, since the pool calls them on every checkout and
    return: a backend whose sync ``classify`` asks the server answers here from the error alone.
    """

    async def open(self) -> C:
        """Open one native connection within ``connect_timeout``; raise
        :class:`~dbplex.errors.SourceUnavailable` naming the source and the reason."""
        ...

    def usable(self, conn: C) -> bool:
        """As :meth:`Connector.usable`: no round trip, never raises."""
        ...

    async def ping(self, conn: C) -> None:
        """One round trip proving the connection works (keepalive); raise if it does not."""
        ...

    async def reset(self, conn: C, failed: bool) -> bool:
        """As :meth:`Connector.reset`; False makes the pool close the connection."""
        ...

    async def close(self, conn: C) -> None:
        """Close the connection; must not raise for one that is already broken."""
        ...

    def classify(self, conn: C, exc: BaseException) -> Disposition:
        """As :meth:`Connector.classify`, from the error and the connection's local state alone."""
        ...

    def transaction(self, conn: C) -> AbstractAsyncContextManager[C]:
        """``async with``: a transaction on ``conn``, committed on success, rolled back on error;
        :class:`~dbplex.errors.UnsupportedError` where the backend has none."""
        ...
