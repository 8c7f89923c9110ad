"""Which client of a MongoDB pool new checkouts use, and when a replaced client may close.

pymongo's pool sizes are fixed per client and it never retires a connection for its age, so the
sync and the asyncio pool (:mod:`dbplex_mongo.pool`, :mod:`dbplex_mongo.aio_pool`) both replace
the whole client after its jittered ``max_lifetime`` and on ``resize``. A replaced client serves
the checkouts already made on it and is closed when the last of them ends (at once when there
are none). This module is that bookkeeping, shared by both pools and free of I/O: each pool says
how one of its clients is opened and closed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dbplex.config import PoolConfig
from dbplex.pooling.jitter import lifetime_deadline
from dbplex_mongo.monitor import ClientListener


class Tenure:
    """One client's checkouts, deadline and state; the pools' client classes extend it.

    The count is a deque of tokens (``append`` and ``pop`` are atomic), so a checkout takes no
    lock: a client is marked ``retired`` before its count is read for closing, and a checkout
    that finds its client retired after counting itself gives its token back and takes the new
    client.
    """

    __slots__ = ("checkouts", "closed", "expires_at", "listener", "retired", "rotation")

    def __init__(self, rotation: Rotation[Any], listener: ClientListener | None, config: PoolConfig) -> None:
        self.rotation = rotation
        self.listener = listener
        self.expires_at = lifetime_deadline(time.monotonic(), config.max_lifetime, config.lifetime_jitter)
        #: one token per checkout handed out and not ended.
        self.checkouts: deque[None] = deque()
        #: set when another client took over: close once ``checkouts`` is empty.
        self.retired = False
        self.closed = False

    def end(self) -> None:
        """One checkout of this client ended: the last one of a replaced client closes it."""
        checkouts = self.checkouts
        checkouts.pop()
        if self.retired and not checkouts:
            self.rotation.release(self)


C = TypeVar("C", bound=Tenure)


class Rotation(Generic[C]):
    """The current client of a pool and the replaced ones still serving their checkouts.

    ``open_client`` builds a client (no I/O: pymongo connects in the background);
    ``close_client`` closes one (the asyncio pool schedules it on its loop).
    """

    def __init__(self, open_client: Callable[[Rotation[C]], C], close_client: Callable[[C], None]) -> None:
        self._open = open_client
        self._close = close_client
        #: guards replacing and closing clients (checkouts take no lock).
        self.lock = threading.Lock()
        #: replaced clients still serving checkouts made on them.
        self.retired: list[C] = []
        self.current: C = open_client(self)

    def checkout(self) -> C:
        """Count a checkout on the current client (replacing it first when its lifetime is over)."""
        self.expire()
        current = self.current
        current.checkouts.append(None)
        if current.retired:  # replaced meanwhile: hand the token back and take the new client
            current.checkouts.pop()
            self.release(current)
            return self.checkout()
        return current

    def expire(self) -> None:
        """Replace the current client if its lifetime is over."""
        current = self.current
        if time.monotonic() >= current.expires_at:
            self.renew(current)

    def renew(self, expired: C | None = None) -> None:
        """Replace the client; the old one closes when its last checkout ends.

        ``expired`` is the client whose lifetime the caller saw end: one another thread already
        replaced is not replaced again.
        """
        with self.lock:
            old = self.current
            if expired is not None and old is not expired:
                return
            self.current = self._open(self)
            old.retired = True
            if old.listener is not None:
                old.listener.retired = True  # its connections count as recycled as they close
            self.retired.append(old)
        self.release(old)

    def release(self, client: C) -> None:
        """Close a replaced client if none of its checkouts is left (once, whoever sees it first)."""
        with self.lock:
            if client.closed or client.checkouts:
                return
            client.closed = True
            self.retired.remove(client)
        self._close(client)

    def take_all(self) -> list[C]:
        """Every client still open, marked closed, for the pool's ``close`` to close."""
        with self.lock:
            clients, self.retired = [self.current, *self.retired], []
            for client in clients:
                client.closed = True
        return clients
