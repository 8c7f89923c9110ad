"""dbplex's connection pool for asyncio: :class:`~.pool.ConnectorPool`'s twin over an :class:`AsyncConnector`.

The same settings, the same :class:`~dbplex.pool.PoolStats` meaning and the same errors as the
thread pool; its slots, grants, stats, backoff, lifetimes and messages are the ones of
:mod:`.slots`, :mod:`.jitter` and :mod:`.waiters`. What differs is how callers wait and who
does maintenance:

- **One event loop, no lock.** Every method runs on the loop that opened the pool, so the
  bookkeeping between two ``await`` s is atomic without a lock.
- **Waiting is a future per caller**, queued first come first served; a return hands its
  connection to the head of the queue (``set_result``) and wakes that caller alone. The wait
  deadline is a ``loop.call_later`` that fails the future with :class:`~dbplex.errors.PoolTimeout`:
  no task and no thread per wait.
- **Cancellation never leaks.** A caller cancelled while waiting leaves the queue; if a
  connection (or room to open one) had already been handed to it, that goes to the next caller.
  A caller cancelled while opening lets the open finish (a connect cut short could leave a
  half-open session on the server) and the connection goes to the next caller. A block that ends by cancellation (or
  any ``BaseException``) while holding a connection leaves the connection in an unknown state
  (a query may be half sent), so the pool closes it and counts it ``lost``; a cancellation
  during the reset on return does the same. The bookkeeping is done before any ``await``, so
  ``stats().used`` is right at once; closes the caller can no longer wait for run as tasks of
  the pool, which :meth:`AsyncConnectorPool.aclose` awaits.
- **Maintenance is an asyncio task** started by :meth:`AsyncConnectorPool.open`: lifetime,
  idle reaping above ``min_size``, keepalive (one connection at a time), leak reports,
  ``min_size`` top-ups and, while the server is down, reconnecting paced by the backoff.

Not here (yet): ``fork()`` handling (an event loop does not survive a fork either).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from time import monotonic
from types import TracebackType
from typing import Generic, TypeVar

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import ConfigError, SourceUnavailable
from dbplex.pool import PoolCounters, PoolStats, notify, observers, task_checkout_wait
from dbplex.pooling import housekeeper
from dbplex.pooling.connector import AsyncConnector, Disposition
from dbplex.pooling.jitter import Backoff
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.slots import Grant, Slot, closed_error, down_error, new_slot, snapshot, timed_out
from dbplex.pooling.waiters import full_error

C = TypeVar("C")

log = secrets.logger("dbplex.pool")

Granted = Slot[C] | Grant


class AsyncConnectorPool(Generic[C]):
    """The asyncio pool of one source, over its backend's async connector; satisfies
    :class:`dbplex.aio.AsyncPool`. Call :meth:`open` (on the loop it will serve) before use."""

    def __init__(self, source: Source, connector: AsyncConnector[C]) -> None:
        self.source = source
        self.connector = connector
        #: whether checkouts record their wait for the slow-operation log (see dbplex.pool.task_checkout_wait).
        self.publish_wait = source.config.slow.threshold_ms is not None
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
        self._generation = 0
        self._closed = False
        self._counters = PoolCounters()
        self._idle: deque[Slot[C]] = deque()  # least recently returned on the left
        self._waiters: deque[asyncio.Future[Granted[C]]] = deque()
        self._used = self._pinging = self._opening = 0
        self._backoff = Backoff(*self._reconnect)
        self._last_drain = float("-inf")
        #: None unless ``pool.leak_threshold`` is set: the checkout path tests this one attribute.
        self.leaks = LeakDetector(source.name, config.leak_threshold, self._counters) if config.leak_threshold else None
        self._wakeup = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        #: closes no caller waits for (after a cancellation, a drain, maintenance).
        self._closing: set[asyncio.Task[None]] = set()
        #: opens running in tasks of their own (:meth:`_shielded_open`), which :meth:`aclose` waits
        #: for, so that none is left pending when the loop ends.
        self._openings: set[asyncio.Task[C]] = set()

    async def open(self) -> None:
        """Open one connection when ``min_size`` asks for any (an unreachable server or a rejected
        login fails here, with its reason), and start the maintenance task."""
        if self._keeper is not None:
            return
        if self._min:
            started = monotonic()
            self._opening += 1
            try:
                conn = await self.connector.open()
            except BaseException:
                self._opening -= 1
                raise
            self._idle.append(self._slot(conn, started))
        self._keeper = asyncio.get_running_loop().create_task(self._housekeep(), name=f"dbplex-pool:{self.source.name}")

    # -- the AsyncPool protocol ----------------------------------------------------------------

    def connection(self) -> _Checkout[C]:
        """``async with pool.connection() as conn``: a connection, back to the pool when the block ends."""
        return _Checkout(self)

    def transaction(self) -> _Transaction[C]:
        """``async with pool.transaction() as conn``: a connection inside the connector's transaction."""
        return _Transaction(self)

    def stats(self) -> PoolStats:
        idle = len(self._idle) + self._pinging
        bounds = (self._min, self._max)
        return snapshot(
            self.source.name, self.source.backend, self._counters, idle, self._used, len(self._waiters), bounds
        )

    def resize(self, min_size: int, max_size: int) -> None:
        """New bounds: room to grow at once (``min_size`` filled by maintenance); idle connections
        above ``max_size`` closed now, checked-out ones as they come back."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(
                f"source {self.source.name!r}: resize needs 0 <= min_size <= max_size and max_size >= 1 "
                f"(got {min_size}, {max_size})"
            )
        self._min, self._max = min_size, max_size
        while self._idle and self._total() > max_size:
            self._counters.recycled += 1
            self._close_soon(self._idle.popleft().conn)
        self._grant()
        self._wakeup.set()

    async def aclose(self) -> None:
        """Close idle connections now and checked-out ones when they come back; fail waiters."""
        self._closed = True
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
        self._wake_all(Grant.CLOSED)
        while self._idle:
            self._close_soon(self._idle.popleft().conn)
        if keeper is not None:
            await asyncio.gather(keeper, return_exceptions=True)  # its cancellation, to the end
        while self._openings or self._closing:  # an open finishing now is closed (``_adopt``)
            await asyncio.gather(*self._openings, *self._closing, return_exceptions=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"AsyncConnectorPool(source={self.source.name!r})"

    # -- checkout --------------------------------------------------------------------------------

    async def _acquire(self, started: float) -> Slot[C]:
        """A connection: an idle one, one opened now while there is room, or one handed over in turn."""
        deadline = started + self._timeout
        while True:
            grant: Granted[C]
            if self._closed:
                grant = Grant.CLOSED
            elif self._idle:
                grant = self._idle.pop()
                self._used += 1
            elif self._backoff.down_since is None and self._total() < self._max:
                self._opening += 1
                grant = Grant.OPEN
            elif self._backoff.down_since is not None and not self._total():
                grant = Grant.DOWN
            elif self._max_waiting and len(self._waiters) >= self._max_waiting:
                raise full_error(self.source.name, self._max_waiting, self._counters)
            else:
                grant = await self._wait(deadline)
            if isinstance(grant, Slot):
                if grant.expires_at > monotonic() and self.connector.usable(grant.conn):
                    return grant
                self._retire_taken(grant, lost=grant.expires_at > monotonic())
            elif grant is Grant.OPEN:
                opening = monotonic()
                try:
                    conn = await self._shielded_open(opening)
                except SourceUnavailable:
                    if not self._total():
                        raise
                    continue  # connections remain: wait for one of them
                self._used += 1
                return self._slot(conn, opening)
            elif grant is Grant.DOWN:
                raise down_error(self.source.name, self._backoff, self._reconnect[1])
            else:
                raise closed_error(self.source.name)

    async def _wait(self, deadline: float) -> Granted[C]:
        """Queue for a return, a reservation or an error; time out at ``deadline``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Granted[C]] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(max(deadline - monotonic(), 0.0), self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(waiter.result())  # granted, then cancelled before it could run: pass it on
            else:
                self._forget(waiter)
            raise
        finally:
            timer.cancel()

    def _expire(self, waiter: asyncio.Future[Granted[C]]) -> None:
        if waiter.done():
            return
        self._forget(waiter)
        self._counters.timeouts += 1
        reason = self._backoff.reason
        waiter.set_exception(timed_out(self.source.name, self._timeout, self._used, self._max, reason, self.leaks))

    def _forget(self, waiter: asyncio.Future[Granted[C]]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _give_back(self, grant: Granted[C]) -> None:
        """What a cancelled waiter had been handed: a connection goes to the next caller (or idle), room is freed."""
        if isinstance(grant, Slot):
            self._used -= 1
            self._put_back(grant)
        elif grant is Grant.OPEN:
            self._opening -= 1
            self._grant()

    # -- return ----------------------------------------------------------------------------------

    async def _release(self, slot: Slot[C], exc: BaseException | None) -> None:
        conn = slot.conn
        keep, lost = True, False
        if exc is not None:
            if not isinstance(exc, Exception):  # cancelled (or interrupted) mid-use: its state is unknown
                keep, lost = False, True
            else:
                try:
                    disposition = self.connector.classify(conn, exc)
                except Exception as error:
                    log.debug("source %r: classifying an error failed: %r", self.source.name, error)
                    disposition = Disposition.DISCARD
                if disposition is Disposition.DISCARD:
                    keep, lost = False, True
                elif disposition is Disposition.DRAIN and self._drain():
                    keep = False
        if keep:
            try:
                keep = await self.connector.reset(conn, exc is not None)
                lost = not keep
            except asyncio.CancelledError:
                self._returned(slot, False, True)
                raise
            except Exception as error:  # a connector that cannot tell: the connection is not trusted again
                log.debug("source %r: a returned connection could not be reset: %r", self.source.name, error)
                keep, lost = False, True
        self._returned(slot, keep, lost)

    def _returned(self, slot: Slot[C], keep: bool, lost: bool) -> None:
        """The bookkeeping of a return, with no ``await``: back to a waiter or idle, or closed."""
        if self.leaks is not None:
            self.leaks.returned(slot)
        now = monotonic()
        waited_ms, used_ms = slot.waited * 1000, (now - slot.taken_at) * 1000
        if observers:  # OpenTelemetry's pool histograms (dbplex.metrics.otel)
            notify(self.source, "wait", waited_ms)
            notify(self.source, "use", used_ms)
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
            idle = self._idle  # reap one idle too long while here; maintenance does it when quiet
            if idle and now - idle[0].idle_since >= self._max_idle and self._total() > self._min:
                counters.recycled += 1
                self._close_soon(idle.popleft().conn)
            return
        if lost:
            counters.lost += 1
        else:
            counters.recycled += 1
        self._close_soon(slot.conn)
        self._grant()
        self._wakeup.set()  # to keep min_size

    def _retire_taken(self, slot: Slot[C], lost: bool) -> None:
        """Close a connection a checkout took but cannot use (past its lifetime, or broken)."""
        self._used -= 1
        if lost:
            self._counters.lost += 1
        else:
            self._counters.recycled += 1
        self._close_soon(slot.conn)
        self._grant()
        self._wakeup.set()

    def _drain(self) -> bool:
        """Close every connection (idle now, the others as they return): the server changed role.
        At most once per ``reconnect_min``."""
        now = monotonic()
        if now - self._last_drain < self._reconnect[0]:
            return False
        self._last_drain = now
        self._generation += 1
        while self._idle:
            self._counters.recycled += 1
            self._close_soon(self._idle.popleft().conn)
        self._grant()
        log.warning("source %r: the server no longer accepts writes; reconnecting every connection", self.source.name)
        self._wakeup.set()
        return True

    # -- opening and closing ---------------------------------------------------------------------

    async def _open(self) -> C:
        """Open a connection for room already reserved in ``_opening``; on failure give the room
        back, mark the source down and, when no connection is left, fail every waiter now."""
        try:
            conn = await self.connector.open()
        except asyncio.CancelledError:
            self._opening -= 1
            self._grant()
            raise
        except Exception as exc:
            was_up = self._backoff.down_since is None
            self._backoff.failed(str(exc))
            self._opening -= 1
            self._counters.errors += 1
            if not self._total():
                self._wake_all(Grant.DOWN)
            if was_up:
                log.warning("source %r: cannot connect, retrying in the background: %s", self.source.name, exc)
                self._wakeup.set()
            raise
        if self._backoff.down_since is not None:
            log.info("source %r: connected again", self.source.name)
            self._backoff.succeeded()
        return conn

    async def _shielded_open(self, started: float) -> C:
        """:meth:`_open`, run to its end even if the caller is cancelled meanwhile: a connect cut
        short could leave a half-open session on the server, so the connection is finished and
        handed to the next caller (or kept idle, or closed once the pool is) instead."""
        opening = asyncio.get_running_loop().create_task(self._open())
        self._openings.add(opening)
        opening.add_done_callback(self._openings.discard)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(functools.partial(self._adopt, started))
            raise

    def _adopt(self, started: float, opening: asyncio.Task[C]) -> None:
        """A connection opened for a caller that was cancelled meanwhile (a failed open has
        already been counted by :meth:`_open`)."""
        if opening.cancelled() or opening.exception() is not None:
            return
        slot = self._slot(opening.result(), started)
        if self._closed:
            self._counters.recycled += 1
            self._close_soon(slot.conn)
            return
        self._put_back(slot)
        self._grant()

    def _slot(self, conn: C, started: float) -> Slot[C]:
        self._opening -= 1
        return new_slot(self.source, conn, started, self._counters, *self._lifetime, self._generation)

    def _close_soon(self, conn: C) -> None:
        """Close ``conn`` in a task of the pool's (awaited by :meth:`aclose`), so that no caller waits for it."""
        task = asyncio.get_running_loop().create_task(self._close(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, conn: C) -> None:
        try:
            await self.connector.close(conn)
        except Exception as exc:
            log.debug("source %r: closing a connection failed: %r", self.source.name, exc)

    # -- bookkeeping (no await in any of these) --------------------------------------------------

    def _total(self) -> int:
        """Connections open or being opened: what ``max_size`` bounds."""
        return len(self._idle) + self._used + self._pinging + self._opening

    def _put_back(self, slot: Slot[C], oldest: bool = False) -> None:
        """A usable connection: to the first waiter still waiting, else to the idle queue."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._used += 1
                waiter.set_result(slot)
                return
        if oldest:
            self._idle.appendleft(slot)
        else:
            self._idle.append(slot)

    def _grant(self) -> None:
        """Room freed below ``max_size``: let waiters open connections in it (while up); once the
        server is down and no connection is left, fail them."""
        if self._backoff.down_since is not None:
            if not self._total():
                self._wake_all(Grant.DOWN)
            return
        while self._waiters and self._total() < self._max:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._opening += 1
                waiter.set_result(Grant.OPEN)

    def _wake_all(self, grant: Grant) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(grant)

    # -- maintenance -----------------------------------------------------------------------------

    async def _housekeep(self) -> None:
        delay = self._interval
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)
            self._wakeup.clear()
            soon: float | None = None
            try:
                soon = await self._maintain()
            except Exception:  # maintenance must outlive one bad round
                log.exception("pool maintenance failed for source %r", self.source.name)
            delay = self._interval if soon is None else min(max(soon, 0.01), self._interval)

    async def _maintain(self) -> float | None:
        """One round; returns how soon a reconnect attempt is due, if one is."""
        if self.leaks is not None:
            self.leaks.sweep()
        self._retire_idle()
        if self._keepalive:
            await self._ping_idle()
        return await self._fill()

    def _retire_idle(self) -> None:
        now = monotonic()
        for slot in [s for s in self._idle if s.expires_at <= now]:
            self._idle.remove(slot)
            self._counters.recycled += 1
            self._close_soon(slot.conn)
        while self._idle and self._total() > self._min and now - self._idle[0].idle_since >= self._max_idle:
            self._counters.recycled += 1
            self._close_soon(self._idle.popleft().conn)

    async def _ping_idle(self) -> None:
        """Keepalive: ping each connection idle for ``keepalive`` seconds, one at a time."""
        horizon = monotonic() - self._keepalive
        for _ in range(len(self._idle)):
            slot = next((s for s in self._idle if s.checked_at <= horizon), None)
            if slot is None:
                return
            self._idle.remove(slot)
            self._pinging += 1
            try:
                alive = self.connector.usable(slot.conn)
                if alive:
                    await self.connector.ping(slot.conn)
            except Exception as exc:
                log.debug("source %r: keepalive ping failed: %s", self.source.name, exc)
                alive = False
            finally:
                self._pinging -= 1
            if alive and not self._closed and slot.generation == self._generation:
                slot.checked_at = monotonic()
                self._put_back(slot, oldest=True)
                continue
            if alive:
                self._counters.recycled += 1
            else:
                self._counters.lost += 1
            self._close_soon(slot.conn)
            self._grant()

    async def _fill(self) -> float | None:
        """Open connections up to ``min_size`` (and, while down, one whenever there is room),
        paced by the backoff; returns when the next attempt is due."""
        while True:
            down = self._backoff.down_since is not None
            total = self._total()
            if self._closed or (total >= self._min and not (down and total < self._max)):
                return None
            due = self._backoff.wait_left()
            if due > 0:
                return due
            self._opening += 1
            started = monotonic()
            try:
                conn = await self._shielded_open(started)
            except Exception:
                return self._backoff.wait_left()
            slot = self._slot(conn, started)
            if self.closed:  # meanwhile (a property: the test above does not decide this one)
                self._close_soon(conn)
                return None
            self._put_back(slot)
            self._grant()


class _Checkout(Generic[C]):
    """What :meth:`AsyncConnectorPool.connection` returns (a plain class: cheaper than a generator)."""

    __slots__ = ("_pool", "_slot")

    def __init__(self, pool: AsyncConnectorPool[C]) -> None:
        self._pool = pool

    async def __aenter__(self) -> C:
        pool = self._pool
        started = monotonic()
        slot: Slot[C] | None = None
        if pool._idle:
            slot = pool._idle.pop()
            pool._used += 1
            if slot.expires_at <= started or not pool.connector.usable(slot.conn):
                pool._retire_taken(slot, lost=slot.expires_at > started)
                slot = None
        if slot is None:
            slot = await pool._acquire(started)
        slot.taken_at = now = monotonic()
        slot.waited = now - started
        if pool.publish_wait:
            task_checkout_wait.set((pool.source, slot.waited))
        if pool.leaks is not None:
            pool.leaks.taken(slot)
        self._slot = slot
        return slot.conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pool._release(self._slot, exc)


class _Transaction(Generic[C]):
    """What :meth:`AsyncConnectorPool.transaction` returns: a checkout inside the connector's transaction."""

    __slots__ = ("_checkout", "_transaction")

    def __init__(self, pool: AsyncConnectorPool[C]) -> None:
        self._checkout = _Checkout(pool)

    async def __aenter__(self) -> C:
        conn = await self._checkout.__aenter__()
        try:
            self._transaction = self._checkout._pool.connector.transaction(conn)
            return await self._transaction.__aenter__()
        except BaseException as exc:
            await self._checkout.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._transaction.__aexit__(exc_type, exc, tb)
        except BaseException as error:
            await self._checkout.__aexit__(type(error), error, error.__traceback__)
            raise
        await self._checkout.__aexit__(exc_type, exc, tb)
