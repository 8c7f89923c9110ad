"""The pieces of the pool's core (:mod:`.core`): a connection's slot, what a waiter can be
granted, and how the pool's state reads as :class:`~dbplex.pool.PoolStats` and as errors.
"""

from __future__ import annotations

import enum
from time import monotonic
from typing import Generic, TypeVar

from dbplex.errors import PoolTimeout, SourceUnavailable
from dbplex.pool import PoolCounters, PoolStats, notify, observers
from dbplex.pooling.jitter import Backoff, lifetime_deadline
from dbplex.pooling.leaks import LeakDetector
from dbplex.pooling.waiters import timeout_message

C = TypeVar("C")


class Slot(Generic[C]):
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


def new_slot(
    source: object, conn: C, started: float, counters: PoolCounters, lifetime: float, jitter: float, generation: int
) -> Slot[C]:
    """Count a connection of ``source`` whose opening began at ``started`` (under the pool's
    lock), tell the timing observers, and give it its slot."""
    now = monotonic()
    ms = (now - started) * 1000
    counters.created += 1
    counters.create.add(ms)
    if observers:  # under the lock, unlike the checkouts' timings: opening a connection is rare
        notify(source, "create", ms)
    return Slot(conn, now, lifetime_deadline(now, lifetime, jitter), generation)


class Grant(enum.Enum):
    """What a waiting caller can be woken with, besides a connection (and FULL, which only a
    caller about to queue gets)."""

    OPEN = "open"  # room below max_size was reserved for you: open a connection yourself
    DOWN = "down"  # the server is down and no connection is left: fail now
    CLOSED = "closed"  # the pool was closed
    FULL = "full"  # the wait queue is at pool.max_waiting: fail now rather than queue


def snapshot(
    source: str, backend: str, counters: PoolCounters, idle: int, used: int, pending: int, bounds: tuple[int, int]
) -> PoolStats:
    """The stats of a pool with these gauges (read under the pool's lock)."""
    return PoolStats(
        source=source,
        backend=backend,
        size=idle + used,
        idle=idle,
        used=used,
        pending=pending,
        min=bounds[0],
        max=bounds[1],
        acquired=counters.acquired + used,
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


def timed_out(
    source: str, timeout: float, used: int, limit: int, reason: str | None, leaks: LeakDetector | None
) -> PoolTimeout:
    """A waiter's :class:`PoolTimeout`: the wait, the counts, the last connection failure, the longest holder."""
    message = timeout_message(source, timeout, used, limit)
    if reason is not None:
        message += f"; the last connection attempt failed: {reason}"
    if leaks is not None:
        message += leaks.describe()
    return PoolTimeout(message)


def down_error(source: str, backoff: Backoff, reconnect_max: float) -> SourceUnavailable:
    """A checkout that fails at once: the server is down and no connection is left."""
    since = backoff.down_since
    failing = f"failing for {monotonic() - since:.1f}s; " if since is not None else ""
    return SourceUnavailable(
        f"{backoff.reason or f'source {source!r}: the server is down'} "
        f"({failing}reconnecting in the background every {reconnect_max:g}s at most)"
    )


def closed_error(source: str) -> SourceUnavailable:
    return SourceUnavailable(f"source {source!r}: the pool is closed")
