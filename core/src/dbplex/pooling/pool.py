"""dbplex's connection pool: every ``pool.*`` setting, implemented once, over a backend's connector.

A backend supplies a :class:`~dbplex.pooling.connector.Connector` (open, check, reset, close,
classify); this pool does the rest, the same way for every backend, like SQLAlchemy's pool or
HikariCP over their drivers.

**Checkout and return** take the pool's lock once each. Idle connections are handed out most
recently returned first (the warm ones; the others age out above ``min_size``). A caller that
finds none idle opens one itself while there is room below ``max_size``; otherwise it queues.
A returned connection goes straight to the first caller in the queue (FIFO) and wakes that
caller alone: each waiter blocks on a lock of its own, so waiting costs no CPU and a return
never wakes callers that cannot have the connection.

**Server down.** A failed connection attempt marks the source down. From then on callers no
longer try to connect: the maintenance thread does, paced by :class:`~.jitter.Backoff` (from
``reconnect_min`` doubling to ``reconnect_max``, jittered, never giving up), and a caller that
finds no connection left fails at once with :class:`~dbplex.errors.SourceUnavailable` naming
the source and the reason, instead of waiting ``pool.timeout`` for a connection that cannot
come. The first successful attempt ends that.

**Maintenance** (one :class:`~.housekeeper.Housekeeper` thread): replace connections past
their jittered lifetime, close those idle longer than ``max_idle`` above ``min_size``, ping
those idle for ``keepalive`` seconds (one at a time, so at most one idle connection is out of
reach of callers at any moment), report leaks, and open connections up to ``min_size``.

**One core.** Every decision above is :class:`~.core.PoolCore`'s, shared with the asyncio pool
(:mod:`.async_pool`); this module adds the lock, the waiters' locks, the thread and the I/O.

**Counters** (see :class:`~dbplex.pool.PoolStats`): ``acquired`` counts checkouts, those still
held included; the ``wait`` and ``use`` timings of a checkout are recorded when it comes back,
in the same lock acquisition as the return.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from types import TracebackType
from typing import Generic, TypeVar

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import SourceUnavailable
from dbplex.pool import PoolCounters, PoolStats, checkout_wait, notify, observers
from dbplex.pooling import fork, housekeeper
from dbplex.pooling.connector import Connector, Disposition
from dbplex.pooling.core import PoolCore
from dbplex.pooling.slots import Grant as _Grant
from dbplex.pooling.slots import Slot as _Slot

C = TypeVar("C")

log = secrets.logger("dbplex.pool")


class _Waiter(Generic[C]):
    """A queued caller: blocks on its own (pre-acquired) lock until it is granted something."""

    __slots__ = ("granted", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.granted: _Slot[C] | _Grant | None = None


class ConnectorPool(PoolCore[C, _Waiter[C]]):
    """The pool of one source, over its backend's connector; satisfies :class:`dbplex.Pool`.

    The decisions are :class:`~.core.PoolCore`'s, each taken under the pool's lock; what is here
    is the lock, the waiters' locks, the maintenance thread and the connector's calls.
    """

    def __init__(self, source: Source, connector: Connector[C]) -> None:
        self._configure(source)
        self.connector = connector
        #: publish each checkout's wait for the slow-operation log (a thread-local store, ~0.1 µs),
        #: only where a threshold is set: other sources' checkouts pay one attribute read.
        self.publish_wait = source.config.slow.threshold_ms is not None
        self._reset_state()
        if self._min:  # one connection now: an unreachable server or a rejected login fails here, with its reason
            started = monotonic()
            conn = connector.open()
            self._opening = 1
            self._idle.append(self._opened(conn, started))
        self._housekeeper: housekeeper.Housekeeper | None = None
        self._wake()
        fork.register(self)

    def _reset_state(self) -> None:
        """A fresh lock, and the core's state counted under it (at start, and in a forked child)."""
        self._lock = threading.Lock()
        self._reset(PoolCounters(self._lock))  # guarded by the pool's lock: one acquisition per checkout

    def _hand(self, waiter: _Waiter[C], granted: _Slot[C] | _Grant) -> bool:
        waiter.granted = granted
        waiter.lock.release()
        return True

    def _wake(self) -> None:
        """Ask for a maintenance round now, starting the thread if there is none yet (after a fork,
        a pool the child never uses starts none)."""
        keeper = self._housekeeper
        if keeper is None:
            with self._lock:
                keeper = self._housekeeper
                if keeper is None:
                    keeper = self._housekeeper = housekeeper.Housekeeper(
                        self.source.name, self._interval, self._maintain
                    )
        keeper.wake()

    # -- the Pool protocol ---------------------------------------------------------------------

    def connection(self) -> _Checkout[C]:
        """Check out a connection; it comes back when the block ends (see the module docstring)."""
        return _Checkout(self)

    @contextmanager
    def transaction(self) -> Iterator[C]:
        """A connection inside the connector's transaction: committed when the block ends, rolled back if it raises."""
        with self.connection() as conn, self.connector.transaction(conn):
            yield conn

    def stats(self) -> PoolStats:
        with self._lock:
            return self._stats()

    def resize(self, min_size: int, max_size: int) -> None:
        """New bounds: room to grow at once (and ``min_size`` filled in the background); idle
        connections above ``max_size`` closed now, checked-out ones as they come back."""
        with self._lock:
            retired = self._resize(min_size, max_size)
        self._close_all(retired)
        self._wake()

    def close(self) -> None:
        """Close idle connections now and checked-out ones when they come back; wake waiters with an error."""
        if self._housekeeper is not None:
            self._housekeeper.stop()
        with self._lock:
            retired = self._shut()
        self._close_all(retired)

    def after_fork(self) -> None:
        """In a forked child: forget the parent's connections (closing them would end the parent's
        sessions), and start afresh on first use; a connection checked out across the fork is
        forgotten on return. The parent's maintenance thread does not exist here."""
        self._generation += 1
        self._fork_floor = self._generation
        self._reset_state()
        self._housekeeper = None

    def __repr__(self) -> str:
        return f"ConnectorPool(source={self.source.name!r})"

    # -- checkout --------------------------------------------------------------------------------

    def _acquire(self, started: float, slot: _Slot[C] | None) -> _Slot[C]:
        """The slow path of a checkout: replace a bad idle connection, open one, or wait.

        The asyncio pool's loop has the same shape but stays its own: here the waiter is queued in
        the same critical section as the take that found nothing (else a return in between would
        go idle while it waits), and each decision is already a :class:`~.core.PoolCore` step.
        """
        if self._housekeeper is None and not self._closed:
            self._wake()  # the first use in a forked child
        if slot is not None:  # taken from the idle queue, but too old or broken
            self._discard_taken(slot, lost=slot.expires_at > started)
        deadline = started + self._timeout
        while True:
            with self._lock:
                grant = self._take()
                if grant is None:  # queue, and wait outside the lock
                    waiter: _Waiter[C] = _Waiter()
                    self._waiters.append(waiter)
            if grant is None:
                grant = self._wait(waiter, deadline)
            if isinstance(grant, _Slot):
                if grant.expires_at > monotonic() and self.connector.usable(grant.conn):
                    return grant
                self._discard_taken(grant, lost=grant.expires_at > monotonic())
            elif grant is _Grant.OPEN:
                opening = monotonic()
                try:
                    conn = self._open()
                except SourceUnavailable:
                    with self._lock:
                        left = self._total()
                    if not left:
                        raise
                    continue  # connections remain: wait for one of them
                with self._lock:
                    self._used += 1
                    return self._opened(conn, opening)
            else:
                raise self._refusal(grant)

    def _wait(self, waiter: _Waiter[C], deadline: float) -> _Slot[C] | _Grant:
        """Block until a return, a reservation or an error is handed to ``waiter``, or time out."""
        if not waiter.lock.acquire(timeout=max(deadline - monotonic(), 0.0)):
            with self._lock:
                granted = waiter.granted
                if granted is None:
                    used = self._expire(waiter)
            if granted is None:
                raise self._timeout_error(used)
            return granted
        assert waiter.granted is not None  # set before the lock is released
        return waiter.granted

    # -- return ----------------------------------------------------------------------------------

    def _discard_taken(self, slot: _Slot[C], lost: bool) -> None:
        """Close a connection a checkout took but cannot use (past its lifetime, or broken)."""
        with self._lock:
            self._retire(slot, lost)
        self.connector.close(slot.conn)
        self._wake()

    def _drain_all(self) -> bool:
        """Close every connection (idle ones now, the others as they come back): the server changed
        role (:meth:`~.core.PoolCore._drain`; False: not this time, and the connection that asked is kept)."""
        with self._lock:
            retired = self._drain(monotonic())
        if retired is None:
            return False
        log.warning("source %r: the server no longer accepts writes; reconnecting every connection", self.source.name)
        self._close_all(retired)
        self._wake()
        return True

    # -- opening ---------------------------------------------------------------------------------

    def _open(self) -> C:
        """Open a connection for room already reserved in ``_opening`` (see :meth:`~.core.PoolCore._open_failed`)."""
        try:
            conn = self.connector.open()
        except Exception as exc:
            with self._lock:
                was_up = self._open_failed(str(exc))
            if was_up:
                log.warning("source %r: cannot connect, retrying in the background: %s", self.source.name, exc)
                self._wake()
            raise
        self._connected()
        return conn

    # -- maintenance -----------------------------------------------------------------------------

    def _maintain(self) -> float | None:
        """One round of the housekeeper; returns how soon a reconnect attempt is due, if one is."""
        if self.leaks is not None:
            self.leaks.sweep()
        with self._lock:
            retired = self._stale(monotonic())
        self._close_all(retired)
        if self._keepalive:
            self._ping_idle()
        return self._fill()

    def _ping_idle(self) -> None:
        """Keepalive (:meth:`~.core.PoolCore._to_ping`), the ping outside the lock."""
        horizon = monotonic() - self._keepalive
        with self._lock:
            rounds = len(self._idle)
        for _ in range(rounds):
            with self._lock:
                slot = self._to_ping(horizon)
            if slot is None:
                return
            try:
                alive = self.connector.usable(slot.conn)
                if alive:
                    self.connector.ping(slot.conn)
            except Exception as exc:
                log.debug("source %r: keepalive ping failed: %s", self.source.name, exc)
                alive = False
            with self._lock:
                dead = self._pinged(slot, alive)
            if dead:
                self.connector.close(slot.conn)

    def _fill(self) -> float | None:
        """Open connections while :meth:`~.core.PoolCore._fill_due` asks; returns when the next attempt is due."""
        while True:
            with self._lock:
                due = self._fill_due()
            if due != 0.0:
                return due
            started = monotonic()
            try:
                conn = self._open()
            except Exception:
                return self._backoff.wait_left()
            with self._lock:
                kept = self._adopt(conn, started)
            if not kept:
                self.connector.close(conn)
                return None

    def _close_all(self, slots: list[_Slot[C]]) -> None:
        for slot in slots:
            self.connector.close(slot.conn)


class _Checkout(Generic[C]):
    """What :meth:`ConnectorPool.connection` returns: a plain class with slots, as a generator-based
    context manager would cost more than the rest of a checkout."""

    __slots__ = ("_pool", "_slot")

    def __init__(self, pool: ConnectorPool[C]) -> None:
        self._pool = pool

    def __enter__(self) -> C:
        pool = self._pool
        started = monotonic()
        with pool._lock:
            if pool._idle:
                slot: _Slot[C] | None = pool._idle.pop()
                pool._used += 1
            else:
                slot = None
        if slot is None or slot.expires_at <= started or not pool.connector.usable(slot.conn):
            slot = pool._acquire(started, slot)
        slot.taken_at = now = monotonic()
        slot.waited = now - started
        if pool.publish_wait:
            checkout_wait.latest = (pool.source, slot.waited)
        if pool.leaks is not None:
            pool.leaks.taken(slot)
        self._slot = slot
        return slot.conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """The return: the connector's verdict, then :meth:`~.core.PoolCore._returned` under the
        lock (written here, not in a method of the pool's: one call less per checkout)."""
        pool, slot = self._pool, self._slot
        conn = slot.conn
        keep, lost = True, False
        try:
            if exc is not None:
                disposition = pool.connector.classify(conn, exc)
                if disposition is Disposition.DISCARD:
                    keep, lost = False, True
                elif disposition is Disposition.DRAIN and pool._drain_all():
                    keep = False  # with every other connection of the old generation
            if keep and not pool.connector.reset(conn, exc is not None):
                keep, lost = False, True
        except Exception as error:  # a connector that cannot tell: the connection is not trusted again
            log.debug("source %r: a returned connection could not be reset: %r", pool.source.name, error)
            keep, lost = False, True
        if pool.leaks is not None:
            pool.leaks.returned(slot)
        now = monotonic()
        if observers and slot.generation >= pool._fork_floor:
            notify(pool.source, "wait", slot.waited * 1000)
            notify(pool.source, "use", (now - slot.taken_at) * 1000)
        with pool._lock:
            closing = pool._returned(slot, keep, lost, now)
        if closing is not None:
            pool.connector.close(closing)
            pool._wake()  # to keep min_size
