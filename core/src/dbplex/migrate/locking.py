"""The migration lock protocol, and taking several sources' locks safely.

Each backend provides a :class:`Lock` (PostgreSQL: an advisory lock on a dedicated session;
MongoDB: a lease document; Redis: a ``SET NX PX`` key with a token). The core polls
``try_acquire`` with a bounded wait (never a blocking wait), takes the locks of several sources
in a fixed order (by source name) so that two runs cannot deadlock, keeps leases alive from a
heartbeat thread, and releases in reverse order.
"""

from __future__ import annotations

import getpass
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import msgspec

from dbplex.migrate.errors import LockLost, LockTimeout


class LockOwner(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds a lock: stored with it, so a waiting run can say whom it waits for."""

    run_id: str
    user: str
    host: str
    pid: int

    @property
    def installed_by(self) -> str:
        return f"{self.user}@{self.host}"

    def describe(self) -> str:
        return f"run {self.run_id[:8]} by {self.installed_by} pid {self.pid}"


def this_process() -> LockOwner:
    """A new owner for a run of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return LockOwner(run_id=uuid.uuid4().hex, user=user, host=socket.gethostname(), pid=os.getpid())


class LockSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How long to wait for a lock, and how long a lease outlives a holder that stopped."""

    #: seconds a run waits for each source's lock before giving up.
    wait: float = 60.0
    #: seconds a lease (MongoDB, Redis) lasts without a heartbeat; it is renewed every ttl/3.
    ttl: float = 15.0
    #: seconds between attempts (with jitter) while waiting.
    poll: float = 0.25


class Lock(Protocol):
    """One source's migration lock. Implementations never block waiting for it."""

    #: the source it locks.
    source: str

    def describe(self) -> str:
        """How it works, for plans and error messages (e.g. the exact Redis command)."""
        ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free; one attempt, no waiting."""
        ...

    def holder(self) -> str | None:
        """Who holds it, if that can be found out (for the message of a waiting run)."""
        ...

    def extend(self) -> bool:
        """Renew a lease, or check a lock session is alive; False when the lock was lost."""
        ...

    def release(self) -> None:
        """Give it up, only if this run still holds it."""
        ...


Notify = Callable[[str, str], None]


class Keeper:
    """Heartbeat for held locks: renews leases every ``interval`` seconds and notes any lost."""

    def __init__(self, locks: list[Lock], interval: float) -> None:
        self.locks = locks
        self.lost: list[str] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="dbplex-migrate-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            for lock in self.locks:
                if lock.source in self.lost:
                    continue
                try:
                    alive = lock.extend()
                except Exception:  # a connection error means the lease can no longer be kept
                    alive = False
                if not alive:
                    self.lost.append(lock.source)

    def check(self) -> None:
        """Raise :class:`LockLost` when any lock was lost since the run took it."""
        if self.lost:
            names = ", ".join(repr(s) for s in self.lost)
            raise LockLost(
                f"source {names}: the migration lock was lost (lease expired or lock session ended); "
                "the run stopped so that no other run applies the same migration twice"
            )


def _acquire(lock: Lock, deadline: float, settings: LockSettings, notify: Notify) -> None:
    started = time.monotonic()
    waited = False
    while not lock.try_acquire():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = lock.holder() or "another run"
            raise LockTimeout(
                f"source {lock.source!r}: the migration lock is held by {holder}; gave up after {settings.wait:g} s "
                f"(--lock-wait). Lock: {lock.describe()}"
            )
        if not waited:
            notify(lock.source, f"waiting for the migration lock, held by {lock.holder() or 'another run'}")
            waited = True
        time.sleep(min(remaining, settings.poll * random.uniform(0.5, 1.5)))
    if waited:
        notify(lock.source, f"migration lock taken after {time.monotonic() - started:.1f} s")


@contextmanager
def holding(locks: list[Lock], settings: LockSettings, notify: Notify) -> Iterator[Keeper]:
    """Take every lock in source-name order within ``settings.wait``; release in reverse order."""
    deadline = time.monotonic() + settings.wait
    held: list[Lock] = []
    try:
        for lock in sorted(locks, key=lambda lock: lock.source):
            _acquire(lock, deadline, settings, notify)
            held.append(lock)
        keeper = Keeper(held, interval=max(settings.ttl / 3, 0.05))
        keeper.start()
        try:
            yield keeper
        finally:
            keeper.stop()
    finally:
        for lock in reversed(held):
            try:
                lock.release()
            except Exception as exc:  # the lease still expires on its own; say so
                notify(
                    lock.source,
                    f"could not release the migration lock ({type(exc).__name__}: {exc}); it expires on its own",
                )
