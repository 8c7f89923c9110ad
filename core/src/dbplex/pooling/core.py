"""The pool's decisions, once, for the thread pool and the asyncio pool (sans-I/O, as psycopg 3's
``BasePool`` or httpcore's state machines): what a checkout gets, where a returned connection
goes, what a lost connection, a failed open or a maintenance round changes, what to close,
which waiter is handed what, and the stats.

:class:`PoolCore` holds the state (idle deque, ``used``, ``opening``, ``pinging``, generations,
backoff, counters) and steps it; no method blocks, awaits, opens or closes a connection. Each
pool subclasses it and keeps its I/O and synchronisation only: :class:`~.pool.ConnectorPool`
calls every step under its lock and closes what a step returns after releasing it;
:class:`~.async_pool.AsyncConnectorPool` calls them between two ``await`` s on its loop (so a
cancelled caller's bookkeeping is done before any ``await``) and closes in tasks of its own.
The one thing a pool tells the core is how to wake a waiter (:meth:`PoolCore._hand`).
"""

from __future__ import annotations

import contextlib
from collections import deque
from time import monotonic
from typing import Generic, TypeVar

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, PoolTimeout
from dbplex.pool import PoolCounters, PoolStats
from dbplex.pooling import housekeeper
from dbplex.pooling.jitter import Backoff
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.slots import Grant, Slot, closed_error, down_error, new_slot, snapshot, timed_out
from dbplex.pooling.waiters import full_error

C = TypeVar("C")
W = TypeVar("W")

log = secrets.logger("dbplex.pool")


class PoolCore(Generic[C, W]):
    """The state of one source's pool and its steps; ``W`` is how the pool's callers wait.

    Every step must run under the pool's lock (threads) or on its loop (asyncio), except those
    that build an error (:meth:`_refusal`, :meth:`_timeout_error`): they count through
    :class:`~dbplex.pool.PoolCounters`' methods, which take the thread pool's lock themselves.
    """

    def _configure(self, source: Source) -> None:
        """The settings of ``source``: read once, since the hot path reads them as attributes."""
        self.source = source
        config = source.config.pool
        self._timeout = config.timeout
        self._max_waiting = config.max_waiting
        self._max_idle = config.max_idle
        self._lifetime = (config.max_lifetime, config.lifetime_jitter)
        self._keepalive = config.keepalive
        self._reconnect = (config.reconnect_min, config.reconnect_max)
        self._min, self._max = config.min_size, config.max_size
        self._interval = housekeeper.interval(
            config.keepalive, config.leak_threshold, config.max_idle, config.max_lifetime / 2
        )
        #: slots of an older generation are closed on return (drain); below the fork floor, forgotten.
        self._generation = self._fork_floor = 0
        self._closed = False

    def _reset(self, counters: PoolCounters) -> None:
        """Empty queues, gauges, backoff and these counters (at start, and in a forked child)."""
        self._counters = counters
        self._idle: deque[Slot[C]] = deque()  # least recently returned on the left
        self._waiters: deque[W] = deque()
        self._used = 0  # checked out by callers
        self._pinging = 0  # out of the idle queue for a keepalive ping
        self._opening = 0  # being opened (room reserved below max_size)
        self._backoff = Backoff(*self._reconnect)
        self._last_drain = float("-inf")
        threshold = self.source.config.pool.leak_threshold
        #: None unless ``pool.leak_threshold`` is set: the checkout path tests this one attribute.
        self.leaks = LeakDetector(self.source.name, threshold, counters) if threshold else None

    def _hand(self, waiter: W, granted: Slot[C] | Grant) -> bool:
        """Wake ``waiter`` with ``granted``; False when it no longer waits (it then gets nothing)."""
        raise NotImplementedError

    # -- gauges ----------------------------------------------------------------------------------

    def _total(self) -> int:
        """Connections open or being opened: what ``max_size`` bounds."""
        return len(self._idle) + self._used + self._pinging + self._opening

    def _stats(self) -> PoolStats:
        idle = len(self._idle) + self._pinging
        bounds = (self._min, self._max)
        return snapshot(
            self.source.name, self.source.backend, self._counters, idle, self._used, len(self._waiters), bounds
        )

    # -- checkout --------------------------------------------------------------------------------

    def _take(self) -> Slot[C] | Grant | None:
        """What a checkout gets now: an idle connection (counted used), room to open one (reserved),
        a refusal (DOWN, CLOSED, FULL: :meth:`_refusal`), or None: queue a waiter and wait."""
        if self._closed:
            return Grant.CLOSED
        if self._idle:
            self._used += 1
            return self._idle.pop()
        down = self._backoff.down_since is not None
        if not down and self._total() < self._max:
            self._opening += 1
            return Grant.OPEN
        if down and not self._total():
            return Grant.DOWN
        if self._max_waiting and len(self._waiters) >= self._max_waiting:
            return Grant.FULL
        return None

    def _refusal(self, grant: Grant) -> Exception:
        """The error of a checkout refused with ``grant`` (not under the thread pool's lock)."""
        if grant is Grant.DOWN:
            return down_error(self.source.name, self._backoff, self._reconnect[1])
        if grant is Grant.FULL:
            return full_error(self.source.name, self._max_waiting, self._counters)
        return closed_error(self.source.name)

    def _expire(self, waiter: W) -> int:
        """A waiter gave up (timed out) before anything was handed to it; returns how many
        connections were in use, for :meth:`_timeout_error`."""
        with contextlib.suppress(ValueError):  # already handed its grant, then cancelled (asyncio)
            self._waiters.remove(waiter)
        self._counters.timeouts += 1
        return self._used

    def _timeout_error(self, used: int) -> PoolTimeout:
        """(Not under the thread pool's lock: the longest holder's report counts leaks.)"""
        return timed_out(self.source.name, self._timeout, used, self._max, self._backoff.reason, self.leaks)

    def _retire(self, slot: Slot[C], lost: bool) -> None:
        """A checkout took ``slot`` but cannot use it (past its lifetime, or broken): the pool
        closes it, and its room goes to the waiters."""
        self._used -= 1
        if lost:
            self._counters.lost += 1
        else:
            self._counters.recycled += 1
        self._grant()

    # -- return ----------------------------------------------------------------------------------

    def _returned(self, slot: Slot[C], keep: bool, lost: bool, now: float) -> C | None:
        """The bookkeeping of a return at ``now``: record its timings, then hand the connection to
        the first waiter or keep it idle, or give it up (``keep`` False, too old, of an older
        generation, the pool closed or shrunk). Returns the connection to close, if any: the one
        given up, or one idle longer than ``max_idle`` reaped while here (maintenance does that
        when the pool is quiet)."""
        if slot.generation < self._fork_floor:
            return None  # the parent's: never closed here, and no longer counted
        counters = self._counters
        counters.acquired += 1
        counters.wait.add(slot.waited * 1000)
        counters.use.add((now - slot.taken_at) * 1000)
        self._used -= 1
        if (
            keep
            and now < slot.expires_at
            and slot.generation == self._generation
            and not self._closed
            and self._total() < self._max
        ):
            slot.idle_since = slot.checked_at = now
            self._put_back(slot)
            idle = self._idle
            if not idle or now - idle[0].idle_since < self._max_idle or self._total() <= self._min:
                return None
            counters.recycled += 1
            return idle.popleft().conn
        if lost:
            counters.lost += 1
        else:
            counters.recycled += 1
        self._grant()
        return slot.conn

    def _drain(self, now: float) -> list[Slot[C]] | None:
        """The server changed role: start a new generation (checked-out connections are closed as
        they come back) and return the idle ones to close now. At most once per ``reconnect_min``,
        so a server that stays a replica causes no storm (None: not this time)."""
        if now - self._last_drain < self._reconnect[0]:
            return None
        self._last_drain = now
        self._generation += 1
        retired = list(self._idle)
        self._idle.clear()
        self._counters.recycled += len(retired)
        self._grant()
        return retired

    # -- opening ---------------------------------------------------------------------------------

    def _open_failed(self, reason: str) -> bool:
        """An open for reserved room failed: give the room back, mark the source down and, when no
        connection is left, fail every waiter now. True when the source was up until now."""
        was_up = self._backoff.down_since is None
        self._backoff.failed(reason)
        self._opening -= 1
        self._counters.errors += 1
        if not self._total():
            self._wake_all(Grant.DOWN)
        return was_up

    def _connected(self) -> None:
        """An open succeeded: the source is up (again)."""
        if self._backoff.down_since is not None:
            log.info("source %r: connected again", self.source.name)
            self._backoff.succeeded()

    def _opened(self, conn: C, started: float) -> Slot[C]:
        """Count a connection whose opening (for reserved room) began at ``started``; its slot."""
        self._opening -= 1
        return new_slot(self.source, conn, started, self._counters, *self._lifetime, self._generation)

    def _adopt(self, conn: C, started: float) -> bool:
        """A connection opened for no caller (maintenance, or one cancelled meanwhile): to a waiter
        or idle, and its room to the others; False when the pool closed meanwhile (close it)."""
        slot = self._opened(conn, started)
        if self._closed:
            self._counters.recycled += 1
            return False
        self._put_back(slot)
        self._grant()
        return True

    # -- hand-offs -------------------------------------------------------------------------------

    def _put_back(self, slot: Slot[C], oldest: bool = False) -> None:
        """A usable connection: to the first waiter still waiting, else to the idle queue."""
        while self._waiters:
            if self._hand(self._waiters.popleft(), slot):
                self._used += 1
                return
        if oldest:
            self._idle.appendleft(slot)
        else:
            self._idle.append(slot)

    def _grant(self) -> None:
        """Room freed below ``max_size``: let waiters open connections in it. While the server is
        down maintenance reconnects and hands its connections over, and once no connection is
        left, waiters fail at once."""
        if self._backoff.down_since is not None:
            if not self._total():
                self._wake_all(Grant.DOWN)
            return
        while self._waiters and self._total() < self._max:
            if self._hand(self._waiters.popleft(), Grant.OPEN):
                self._opening += 1

    def _wake_all(self, grant: Grant) -> None:
        while self._waiters:
            self._hand(self._waiters.popleft(), grant)

    # -- bounds and closing ----------------------------------------------------------------------

    def _resize(self, min_size: int, max_size: int) -> list[Slot[C]]:
        """New bounds, room to grow handed to waiters; returns the idle connections above
        ``max_size`` to close now (checked-out ones are closed as they come back)."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(
                f"source {self.source.name!r}: resize needs 0 <= min_size <= max_size and max_size >= 1 "
                f"(got {min_size}, {max_size})"
            )
        self._min, self._max = min_size, max_size
        retired = []
        while self._idle and self._total() > max_size:
            retired.append(self._idle.popleft())
        self._counters.recycled += len(retired)
        self._grant()
        return retired

    def _shut(self) -> list[Slot[C]]:
        """Close the pool: waiters fail, and the idle connections are returned to close now."""
        self._closed = True
        self._wake_all(Grant.CLOSED)
        retired = list(self._idle)
        self._idle.clear()
        return retired

    # -- maintenance -----------------------------------------------------------------------------

    def _stale(self, now: float) -> list[Slot[C]]:
        """Idle connections to close: past their lifetime, and those idle longer than
        ``max_idle`` while more than ``min_size`` are open."""
        retired = [slot for slot in self._idle if slot.expires_at <= now]
        for slot in retired:
            self._idle.remove(slot)
        while self._idle and self._total() > self._min and now - self._idle[0].idle_since >= self._max_idle:
            retired.append(self._idle.popleft())
        self._counters.recycled += len(retired)
        return retired

    def _to_ping(self, horizon: float) -> Slot[C] | None:
        """Keepalive: an idle connection last used or pinged before ``horizon``, taken out of the
        idle queue (one at a time, so callers can take every other idle connection meanwhile)."""
        slot = next((s for s in self._idle if s.checked_at <= horizon), None)
        if slot is not None:
            self._idle.remove(slot)
            self._pinging += 1
        return slot

    def _pinged(self, slot: Slot[C], alive: bool) -> bool:
        """A keepalive ping ended: back to the oldest end of the idle queue (or a waiter); True
        when the pool must close it instead (dead, drained or closed meanwhile)."""
        self._pinging -= 1
        if alive and not self._closed and slot.generation == self._generation:
            slot.checked_at = monotonic()
            self._put_back(slot, oldest=True)
            return False
        if alive:
            self._counters.recycled += 1
        else:
            self._counters.lost += 1
        self._grant()
        return True

    def _fill_due(self) -> float | None:
        """Whether maintenance opens a connection now: to keep ``min_size`` and, while the server
        is down, to try for one whenever there is room, paced by the backoff. None: no; a delay:
        not before then; 0.0: yes, and the room is reserved."""
        total = self._total()
        down = self._backoff.down_since is not None
        if self._closed or (total >= self._min and not (down and total < self._max)):
            return None
        due = self._backoff.wait_left()
        if due > 0:
            return due
        self._opening += 1
        return 0.0
