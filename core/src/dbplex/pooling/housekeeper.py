"""One daemon thread per pool that runs its maintenance (reaping, keepalive, leak reports, reconnecting)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from dbplex import secrets

log = secrets.logger("dbplex.pool")


class Housekeeper:
    """Calls the bound method ``task`` every ``interval`` seconds until :meth:`stop`, or until its
    pool is garbage-collected: the thread holds it weakly, so a pool dropped unclosed does not
    live on, and a finaliser ends the thread the moment the pool goes rather than at its next
    round. A failing round is logged, not fatal.

    ``task`` may return how soon it wants the next round (a reconnect attempt due before the
    interval is over); :meth:`wake` asks for a round now (a connection is needed).
    """

    def __init__(self, name: str, interval: float, task: Callable[[], float | None]) -> None:
        self.interval = interval
        self._task = weakref.WeakMethod(task)
        self._stopped = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dbplex-pool:{name}", daemon=True)
        self._thread.start()
        owner = getattr(task, "__self__", None)
        if owner is not None:
            weakref.finalize(owner, self.stop, False).atexit = False

    def _run(self) -> None:
        delay = self.interval
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            task = self._task()
            if task is None or self._stopped:
                return
            soon: float | None = None
            try:
                soon = task()
            except Exception:  # maintenance must outlive one bad round
                log.exception("pool maintenance failed in %s", self._thread.name)
            del task
            delay = self.interval if soon is None else min(max(soon, 0.0), self.interval)

    def wake(self) -> None:
        """Run a round as soon as the one under way (if any) ends."""
        self._wake.set()

    def stop(self, wait: bool = True) -> None:
        """End the thread; with ``wait``, once a round under way has finished (at most 5 s)."""
        self._stopped = True
        self._wake.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(5)


def interval(keepalive: float, leak_threshold: float, *others: float) -> float:
    """How often maintenance runs: often enough for the shortest of the periods it serves."""
    periods = [p for p in (keepalive, leak_threshold / 2, *others) if p > 0]
    return max(min(periods, default=60.0), 0.05)
