"""dbplex's connection pool for asyncio: :class:`~.pool.ConnectorPool`'s twin over an :class:`AsyncConnector`.

The same settings, the same :class:`~dbplex.pool.PoolStats` meaning and the same errors as the
thread pool, because both drive the same sans-I/O :class:`~.core.PoolCore`: every decision and
every count is made there once. What differs is how callers wait and who does maintenance:

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
from time import monotonic
from types import TracebackType
from typing import Generic, TypeVar

from dbplex import secrets
from dbplex.backends import Source
from dbplex.errors import SourceUnavailable
from dbplex.pool import PoolCounters, PoolStats, notify, observers, task_checkout_wait
from dbplex.pooling.connector import AsyncConnector, Disposition
from dbplex.pooling.core import PoolCore
from dbplex.pooling.slots import Grant, Slot

C = TypeVar("C")

log = secrets.logger("dbplex.pool")

Granted = Slot[C] | Grant


class AsyncConnectorPool(PoolCore[C, "asyncio.Future[Granted[C]]"]):
    """The asyncio pool of one source, over its backend's async connector; satisfies
    :class:`dbplex.aio.AsyncPool`. Call :meth:`open` (on the loop it will serve) before use.

    The decisions are :class:`~.core.PoolCore`'s, each taken between two ``await`` s; what is
    here is the futures, the timers, the tasks and the connector's calls.
    """

    def __init__(self, source: Source, connector: AsyncConnector[C]) -> None:
        self._configure(source)
        self.connector = connector
        #: whether checkouts record their wait for the slow-operation log (see dbplex.pool.task_checkout_wait).
        self.publish_wait = source.config.slow.threshold_ms is not None
        self._reset(PoolCounters())
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
            self._idle.append(self._opened(conn, started))
        self._keeper = asyncio.get_running_loop().create_task(self._housekeep(), name=f"dbplex-pool:{self.source.name}")

    def _hand(self, waiter: asyncio.Future[Granted[C]], granted: Granted[C]) -> bool:
        if waiter.done():  # timed out or cancelled
            return False
        waiter.set_result(granted)
        return True

    # -- the AsyncPool protocol ----------------------------------------------------------------

    def connection(self) -> _Checkout[C]:
        """``async with pool.connection() as conn``: a connection, back to the pool when the block ends."""
        return _Checkout(self)

    def transaction(self) -> _Transaction[C]:
        """``async with pool.transaction() as conn``: a connection inside the connector's transaction."""
        return _Transaction(self)

    def stats(self) -> PoolStats:
        return self._stats()

    def resize(self, min_size: int, max_size: int) -> None:
        """New bounds: room to grow at once (``min_size`` filled by maintenance); idle connections
        above ``max_size`` closed now, checked-out ones as they come back."""
        self._close_all(self._resize(min_size, max_size))
        self._wakeup.set()

    async def aclose(self) -> None:
        """Close idle connections now and checked-out ones when they come back; fail waiters."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
        self._close_all(self._shut())
        if keeper is not None:
            await asyncio.gather(keeper, return_exceptions=True)  # its cancellation, to the end
        while self._openings or self._closing:  # an open finishing now is closed (``_adopted``)
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
            grant = self._take()
            if grant is None:
                grant = await self._wait(deadline)
            if isinstance(grant, Slot):
                if grant.expires_at > monotonic() and self.connector.usable(grant.conn):
                    return grant
                self._discard_taken(grant, lost=grant.expires_at > monotonic())
            elif grant is Grant.OPEN:
                opening = monotonic()
                try:
                    conn = await self._shielded_open(opening)
                except SourceUnavailable:
                    if not self._total():
                        raise
                    continue  # connections remain: wait for one of them
                self._used += 1
                return self._opened(conn, opening)
            else:
                raise self._refusal(grant)

    async def _wait(self, deadline: float) -> Granted[C]:
        """Queue for a return, a reservation or an error; time out at ``deadline``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Granted[C]] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(max(deadline - monotonic(), 0.0), self._expire_soon, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(waiter.result())  # granted, then cancelled before it could run: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        finally:
            timer.cancel()

    def _expire_soon(self, waiter: asyncio.Future[Granted[C]]) -> None:
        if not waiter.done():
            waiter.set_exception(self._timeout_error(self._expire(waiter)))

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
                elif disposition is Disposition.DRAIN and self._drain_all():
                    keep = False
        cancelled: asyncio.CancelledError | None = None
        if keep:
            try:
                keep = await self.connector.reset(conn, exc is not None)
                lost = not keep
            except asyncio.CancelledError as error:  # the bookkeeping below, then the cancellation
                keep, lost, cancelled = False, True, error
            except Exception as error:  # a connector that cannot tell: the connection is not trusted again
                log.debug("source %r: a returned connection could not be reset: %r", self.source.name, error)
                keep, lost = False, True
        if self.leaks is not None:  # from here on no ``await``
            self.leaks.returned(slot)
        now = monotonic()
        if observers:  # OpenTelemetry's pool histograms (dbplex.metrics.otel)
            notify(self.source, "wait", slot.waited * 1000)
            notify(self.source, "use", (now - slot.taken_at) * 1000)
        closing = self._returned(slot, keep, lost, now)
        if closing is not None:
            self._close_soon(closing)
            self._wakeup.set()  # to keep min_size
        if cancelled is not None:
            raise cancelled

    def _discard_taken(self, slot: Slot[C], lost: bool) -> None:
        """Close a connection a checkout took but cannot use (past its lifetime, or broken)."""
        self._retire(slot, lost)
        self._close_soon(slot.conn)
        self._wakeup.set()

    def _drain_all(self) -> bool:
        """Close every connection (idle now, the others as they return): the server changed role
        (:meth:`~.core.PoolCore._drain`)."""
        retired = self._drain(monotonic())
        if retired is None:
            return False
        self._close_all(retired)
        log.warning("source %r: the server no longer accepts writes; reconnecting every connection", self.source.name)
        self._wakeup.set()
        return True

    # -- opening and closing ---------------------------------------------------------------------

    async def _open(self) -> C:
        """Open a connection for room already reserved in ``_opening`` (see :meth:`~.core.PoolCore._open_failed`)."""
        try:
            conn = await self.connector.open()
        except asyncio.CancelledError:
            self._opening -= 1
            self._grant()
            raise
        except Exception as exc:
            if self._open_failed(str(exc)):
                log.warning("source %r: cannot connect, retrying in the background: %s", self.source.name, exc)
                self._wakeup.set()
            raise
        self._connected()
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
            opening.add_done_callback(functools.partial(self._adopted, started))
            raise

    def _adopted(self, started: float, opening: asyncio.Task[C]) -> None:
        """A connection opened for a caller that was cancelled meanwhile (a failed open has
        already been counted by :meth:`_open`)."""
        if opening.cancelled() or opening.exception() is not None:
            return
        conn = opening.result()
        if not self._adopt(conn, started):
            self._close_soon(conn)

    def _close_all(self, slots: list[Slot[C]]) -> None:
        for slot in slots:
            self._close_soon(slot.conn)

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
        self._close_all(self._stale(monotonic()))
        if self._keepalive:
            await self._ping_idle()
        return await self._fill()

    async def _ping_idle(self) -> None:
        """Keepalive (:meth:`~.core.PoolCore._to_ping`)."""
        horizon = monotonic() - self._keepalive
        for _ in range(len(self._idle)):
            slot = self._to_ping(horizon)
            if slot is None:
                return
            try:
                alive = self.connector.usable(slot.conn)
                if alive:
                    await self.connector.ping(slot.conn)
            except Exception as exc:
                log.debug("source %r: keepalive ping failed: %s", self.source.name, exc)
                alive = False
            except BaseException:  # cancelled (aclose): the ping's bookkeeping, then the close
                if self._pinged(slot, False):
                    self._close_soon(slot.conn)
                raise
            if self._pinged(slot, alive):
                self._close_soon(slot.conn)

    async def _fill(self) -> float | None:
        """Open connections while :meth:`~.core.PoolCore._fill_due` asks; returns when the next attempt is due."""
        while True:
            due = self._fill_due()
            if due != 0.0:
                return due
            started = monotonic()
            try:
                conn = await self._shielded_open(started)
            except Exception:
                return self._backoff.wait_left()
            if not self._adopt(conn, started):
                self._close_soon(conn)
                return None


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
                pool._discard_taken(slot, lost=slot.expires_at > started)
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
