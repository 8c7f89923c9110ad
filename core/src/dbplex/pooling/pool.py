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

**Counters** (see :class:`~dbplex.pool.PoolStats`): ``acquired`` counts checkouts, those still
held included; the ``wait`` and ``use`` timings of a checkout are recorded when it comes back,
in the same lock acquisition as the return.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from types import TracebackType
from typing import Generic, TypeVar

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, PoolTimeout, SourceUnavailable
from dbplex.pool import PoolCounters, PoolStats, checkout_wait, notify, observers
from dbplex.pooling import fork, housekeeper
from dbplex.pooling.connector import Connector, Disposition
from dbplex.pooling.jitter import Backoff, lifetime_deadline
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import full_error, timeout_message

C = TypeVar("C")

log = secrets.logger("dbplex.pool")


class _Slot(Generic[C]):
    """One open connection and the times the pool keeps for it."""

    __slots__ = ("checked_at", "conn", "expires_at", "generation", "idle_since", "taken_at", "waited")

    def __init__(self, conn: C, now: float, expires_at: float, generation: int) -> None:
        self.conn = conn
        self.expires_at = expires_at
        #: the pool's generation when it was opened; an older one is closed (drain) or forgotten (fork).
        self.generation = generation
        #: last returned by a caller (idle reaping), and last returned or pinged (keepalive).
        self.idle_since = self.checked_at = now
        #: when the current checkout began, and how long it waited (recorded on return).
        self.taken_at = self.waited = 0.0


class _Grant(enum.Enum):
    """What a waiting caller can be woken with, besides a connection."""

    OPEN = "open"  # room below max_size was reserved for you: open a connection yourself
    DOWN = "down"  # the server is down and no connection is left: fail now
    CLOSED = "closed"  # the pool was closed


class _Waiter(Generic[C]):
    """A queued caller: blocks on its own (pre-acquired) lock until it is granted something."""

    __slots__ = ("granted", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.granted: _Slot[C] | _Grant | None = None


class ConnectorPool(Generic[C]):
    """The pool of one source, over its backend's connector; satisfies :class:`dbplex.Pool`."""

    def __init__(self, source: Source, connector: Connector[C]) -> None:
        self.source = source
        self.connector = connector
        config = source.config.pool
        self._timeout = config.timeout
        self._max_waiting = config.max_waiting
        self._max_idle = config.max_idle
        self._max_lifetime = config.max_lifetime
        self._lifetime_jitter = config.lifetime_jitter
        self._keepalive = config.keepalive
        self._reconnect = (config.reconnect_min, config.reconnect_max)
        self._min, self._max = config.min_size, config.max_size
        #: publish each checkout's wait for the slow-operation log (a thread-local store, ~0.1 µs),
        #: only where a threshold is set: other sources' checkouts pay one attribute read.
        self.publish_wait = source.config.slow.threshold_ms is not None
        self._generation = self._fork_floor = 0
        self._closed = False
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
        """Fresh locks, queues, gauges and counters (at start, and in a forked child)."""
        self._lock = threading.Lock()
        self._counters = PoolCounters(self._lock)  # guarded by the pool's lock: one acquisition per checkout
        self._idle: deque[_Slot[C]] = deque()  # least recently returned on the left
        self._waiters: deque[_Waiter[C]] = deque()
        self._used = 0  # checked out by callers
        self._pinging = 0  # out of the idle queue for a keepalive ping
        self._opening = 0  # being opened (room reserved below max_size)
        self._backoff = Backoff(*self._reconnect)
        self._last_drain = float("-inf")
        threshold = self.source.config.pool.leak_threshold
        #: None unless ``pool.leak_threshold`` is set: the checkout path tests this one attribute.
        self.leaks = LeakDetector(self.source.name, threshold, self._counters) if threshold else None

    def _wake(self) -> None:
        """Ask for a maintenance round now, starting the thread if there is none yet (after a fork,
        a pool the child never uses starts none)."""
        keeper = self._housekeeper
        if keeper is None:
            every = housekeeper.interval(
                self._keepalive, self.source.config.pool.leak_threshold, self._max_idle, self._max_lifetime / 2
            )
            with self._lock:
                keeper = self._housekeeper
                if keeper is None:
                    keeper = self._housekeeper = housekeeper.Housekeeper(self.source.name, every, self._maintain)
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
            counters = self._counters
            idle = len(self._idle) + self._pinging
            return PoolStats(
                source=self.source.name,
                backend=self.source.backend,
                size=idle + self._used,
                idle=idle,
                used=self._used,
                pending=len(self._waiters),
                min=self._min,
                max=self._max,
                acquired=counters.acquired + self._used,
                timeouts=counters.timeouts,
                errors=counters.errors,
                created=counters.created,
                lost=counters.lost,
                recycled=counters.recycled,
                leaks=counters.leaks,
                rejected=counters.rejected,
                wait=counters.wait.copy(),
                use=counters.use.copy(),
                create=counters.create.copy(),
            )

    def resize(self, min_size: int, max_size: int) -> None:
        """New bounds: room to grow at once (and ``min_size`` filled in the background); idle
        connections above ``max_size`` closed now, checked-out ones as they come back."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(
                f"source {self.source.name!r}: resize needs 0 <= min_size <= max_size and max_size >= 1 "
                f"(got {min_size}, {max_size})"
            )
        with self._lock:
            self._min, self._max = min_size, max_size
            retired = []
            while self._idle and self._total() > max_size:
                retired.append(self._idle.popleft())
            self._counters.recycled += len(retired)
            self._grant()
        self._close_all(retired)
        self._wake()

    def close(self) -> None:
        """Close idle connections now and checked-out ones when they come back; wake waiters with an error."""
        if self._housekeeper is not None:
            self._housekeeper.stop()
        with self._lock:
            self._closed = True
            retired = list(self._idle)
            self._idle.clear()
            self._wake_all(_Grant.CLOSED)
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
        """The slow path of a checkout: replace a bad idle connection, open one, or wait."""
        if self._housekeeper is None and not self._closed:
            self._wake()  # the first use in a forked child
        if slot is not None:  # taken from the idle queue, but too old or broken
            self._retire_taken(slot, lost=slot.expires_at > started)
        deadline = started + self._timeout
        while True:
            grant: _Slot[C] | _Grant | None = None
            waiter: _Waiter[C] | None = None
            full = False
            with self._lock:
                if self._closed:
                    grant = _Grant.CLOSED
                elif self._idle:
                    grant = self._idle.pop()
                    self._used += 1
                elif self._backoff.down_since is None and self._total() < self._max:
                    self._opening += 1
                    grant = _Grant.OPEN
                elif self._backoff.down_since is not None and not self._total():
                    grant = _Grant.DOWN
                elif self._max_waiting and len(self._waiters) >= self._max_waiting:
                    full = True
                else:
                    waiter = _Waiter()
                    self._waiters.append(waiter)
            if full:
                raise full_error(self.source.name, self._max_waiting, self._counters)
            if waiter is not None:
                grant = self._wait(waiter, deadline)
            if isinstance(grant, _Slot):
                if grant.expires_at > monotonic() and self.connector.usable(grant.conn):
                    return grant
                self._retire_taken(grant, lost=grant.expires_at > monotonic())
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
            elif grant is _Grant.DOWN:
                raise self._down_error()
            else:
                raise SourceUnavailable(f"source {self.source.name!r}: the pool is closed")

    def _wait(self, waiter: _Waiter[C], deadline: float) -> _Slot[C] | _Grant:
        """Block until a return, a reservation or an error is handed to ``waiter``, or time out."""
        if not waiter.lock.acquire(timeout=max(deadline - monotonic(), 0.0)):
            with self._lock:
                granted = waiter.granted
                if granted is None:
                    self._waiters.remove(waiter)
                    self._counters.timeouts += 1
                    used, limit, reason = self._used, self._max, self._backoff.reason
            if granted is None:
                message = timeout_message(self.source.name, self._timeout, used, limit)
                if reason is not None:
                    message += f"; the last connection attempt failed: {reason}"
                if self.leaks is not None:
                    message += self.leaks.describe()
                raise PoolTimeout(message)
            return granted
        assert waiter.granted is not None  # set before the lock is released
        return waiter.granted

    def _down_error(self) -> SourceUnavailable:
        backoff = self._backoff
        since = backoff.down_since
        failing = f"failing for {monotonic() - since:.1f}s; " if since is not None else ""
        return SourceUnavailable(
            f"{backoff.reason or f'source {self.source.name!r}: the server is down'} "
            f"({failing}reconnecting in the background every {self._reconnect[1]:g}s at most)"
        )

    # -- return ----------------------------------------------------------------------------------

    def _release(self, slot: _Slot[C], exc: BaseException | None) -> None:
        conn = slot.conn
        keep, lost = True, False
        try:
            if exc is not None:
                disposition = self.connector.classify(conn, exc)
                if disposition is Disposition.DISCARD:
                    keep, lost = False, True
                elif disposition is Disposition.DRAIN and self._drain():
                    keep = False  # with every other connection of the old generation
            if keep and not self.connector.reset(conn, exc is not None):
                keep, lost = False, True
        except Exception as error:  # a connector that cannot tell: the connection is not trusted again
            log.debug("source %r: a returned connection could not be reset: %r", self.source.name, error)
            keep, lost = False, True
        if self.leaks is not None:
            self.leaks.returned(slot)
        now = monotonic()
        waited_ms, used_ms = slot.waited * 1000, (now - slot.taken_at) * 1000
        if observers and slot.generation >= self._fork_floor:
            notify(self.source, "wait", waited_ms)
            notify(self.source, "use", used_ms)
        with self._lock:
            if slot.generation < self._fork_floor:
                return  # the parent's: never closed here, and no longer counted
            counters = self._counters
            counters.acquired += 1
            counters.wait.add(waited_ms)
            counters.use.add(used_ms)
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
                idle = self._idle  # reap one idle too long while here; the housekeeper does it when quiet
                if not idle or now - idle[0].idle_since < self._max_idle or self._total() <= self._min:
                    return
                conn = idle.popleft().conn
                counters.recycled += 1
            else:
                if lost:
                    counters.lost += 1
                else:
                    counters.recycled += 1
                self._grant()
        self.connector.close(conn)
        self._wake()  # to keep min_size

    def _retire_taken(self, slot: _Slot[C], lost: bool) -> None:
        """Close a connection a checkout took but cannot use (past its lifetime, or broken)."""
        with self._lock:
            self._used -= 1
            if lost:
                self._counters.lost += 1
            else:
                self._counters.recycled += 1
        self.connector.close(slot.conn)
        self._wake()

    def _drain(self) -> bool:
        """Close every connection (idle ones now, the others as they come back): the server changed
        role. At most once per ``reconnect_min``, so a server that stays a replica causes no storm
        (False: not this time, and the connection that asked is kept)."""
        now = monotonic()
        with self._lock:
            if now - self._last_drain < self._reconnect[0]:
                return False
            self._last_drain = now
            self._generation += 1
            retired = list(self._idle)
            self._idle.clear()
            self._counters.recycled += len(retired)
            self._grant()
        log.warning("source %r: the server no longer accepts writes; reconnecting every connection", self.source.name)
        self._close_all(retired)
        self._wake()
        return True

    # -- opening ---------------------------------------------------------------------------------

    def _open(self) -> C:
        """Open a connection for room already reserved in ``_opening``; on failure give the room
        back, mark the source down and, when no connection is left, fail every waiter now."""
        try:
            conn = self.connector.open()
        except Exception as exc:
            was_up = self._backoff.down_since is None
            self._backoff.failed(str(exc))
            with self._lock:
                self._opening -= 1
                self._counters.errors += 1
                if not self._total():
                    self._wake_all(_Grant.DOWN)
            if was_up:
                log.warning("source %r: cannot connect, retrying in the background: %s", self.source.name, exc)
                self._wake()
            raise
        if self._backoff.down_since is not None:
            log.info("source %r: connected again", self.source.name)
            self._backoff.succeeded()
        return conn

    def _opened(self, conn: C, started: float) -> _Slot[C]:
        """Under the lock (or before the pool is shared): count a connection whose opening began
        at ``started`` and give it its slot."""
        now = monotonic()
        self._opening -= 1
        self._counters.created += 1
        self._counters.create.add((now - started) * 1000)
        if observers:  # under the lock, unlike the checkouts' timings: opening a connection is rare
            notify(self.source, "create", (now - started) * 1000)
        return _Slot(conn, now, lifetime_deadline(now, self._max_lifetime, self._lifetime_jitter), self._generation)

    # -- under the lock --------------------------------------------------------------------------

    def _total(self) -> int:
        """Connections open or being opened: what ``max_size`` bounds."""
        return len(self._idle) + self._used + self._pinging + self._opening

    def _put_back(self, slot: _Slot[C], oldest: bool = False) -> None:
        """A usable connection: to the first waiter, else to the idle queue."""
        if self._waiters:
            waiter = self._waiters.popleft()
            self._used += 1
            waiter.granted = slot
            waiter.lock.release()
        elif oldest:
            self._idle.appendleft(slot)
        else:
            self._idle.append(slot)

    def _grant(self) -> None:
        """A connection was closed: let waiters open connections in the room there is now. While
        the server is down the maintenance thread reconnects and hands its connections over, and
        once no connection is left, waiters fail at once."""
        if self._backoff.down_since is not None:
            if not self._total():
                self._wake_all(_Grant.DOWN)
            return
        while self._waiters and self._total() < self._max:
            waiter = self._waiters.popleft()
            self._opening += 1
            waiter.granted = _Grant.OPEN
            waiter.lock.release()

    def _wake_all(self, grant: _Grant) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.granted = grant
            waiter.lock.release()

    # -- maintenance -----------------------------------------------------------------------------

    def _maintain(self) -> float | None:
        """One round of the housekeeper; returns how soon a reconnect attempt is due, if one is."""
        if self.leaks is not None:
            self.leaks.sweep()
        self._retire_idle()
        if self._keepalive:
            self._ping_idle()
        return self._fill()

    def _retire_idle(self) -> None:
        """Close idle connections past their lifetime, and those idle longer than ``max_idle``
        while more than ``min_size`` are open."""
        now = monotonic()
        with self._lock:
            retired = [slot for slot in self._idle if slot.expires_at <= now]
            for slot in retired:
                self._idle.remove(slot)
            while self._idle and self._total() > self._min and now - self._idle[0].idle_since >= self._max_idle:
                retired.append(self._idle.popleft())
            self._counters.recycled += len(retired)
        self._close_all(retired)

    def _ping_idle(self) -> None:
        """Keepalive: ping each connection idle for ``keepalive`` seconds, one at a time, replacing
        one that fails; callers can take every other idle connection meanwhile."""
        horizon = monotonic() - self._keepalive
        with self._lock:
            rounds = len(self._idle)
        for _ in range(rounds):
            with self._lock:
                slot = next((s for s in self._idle if s.checked_at <= horizon), None)
                if slot is None:
                    return
                self._idle.remove(slot)
                self._pinging += 1
            try:
                alive = self.connector.usable(slot.conn)
                if alive:
                    self.connector.ping(slot.conn)
            except Exception as exc:
                log.debug("source %r: keepalive ping failed: %s", self.source.name, exc)
                alive = False
            with self._lock:
                self._pinging -= 1
                if alive and not self._closed and slot.generation == self._generation:
                    slot.checked_at = monotonic()
                    self._put_back(slot, oldest=True)
                    continue
                if alive:
                    self._counters.recycled += 1  # drained or closed meanwhile
                else:
                    self._counters.lost += 1
                self._grant()
            self.connector.close(slot.conn)

    def _fill(self) -> float | None:
        """Open connections up to ``min_size`` (and, while the server is down, keep trying for one
        whenever there is room), paced by the backoff; returns when the next attempt is due."""
        while True:
            with self._lock:
                down = self._backoff.down_since is not None
                total = self._total()
                closed = self._closed  # a local: the test after the unlocked connect must read it afresh
                if closed or (total >= self._min and not (down and total < self._max)):
                    return None
                due = self._backoff.wait_left()
                if due > 0:
                    return due
                self._opening += 1
            started = monotonic()
            try:
                conn = self._open()
            except Exception:
                return self._backoff.wait_left()
            with self._lock:
                slot = self._opened(conn, started)
                if self._closed:
                    retired = True
                else:
                    retired = False
                    self._put_back(slot)
                    self._grant()
            if retired:
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
        self._pool._release(self._slot, exc)
