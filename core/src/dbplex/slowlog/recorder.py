"""The client side of slow operations: ``dbplex_query`` and ``dbplex_async_query`` wrappers, a log
record and a ring.

The hub registers a :class:`SlowPlugin` only when one of its sources has a ``slow.threshold_ms``,
and watches only that hub's endpoints (by identity), as :class:`~dbplex.metrics.recorder.MetricsPlugin`
does: with no threshold anywhere, nothing wraps an operation. An operation at or over its
source's threshold is rendered (redacted unless ``slow.redact = false``), logged once on
``dbplex.slow`` at WARNING with the entry's fields in the record's ``extra`` (``slow_entry``), and
kept in a ring of the :data:`KEEP` latest. Its pool wait is that of the checkout it ran on, as
the pool recorded it (:data:`dbplex.pool.checkout_wait`); None where the pool records none.
An async hub (:func:`dbplex.open_async`) registers one too: an async op is timed from the await
to its answer, a cancellation counting as a failure (``CancelledError``), as the metrics do; its
pool wait is the running task's latest checkout's (:data:`dbplex.pool.task_checkout_wait`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

from dbplex.backends import Source
from dbplex.hookspecs import hookimpl
from dbplex.pool import checkout_wait, task_checkout_wait
from dbplex.slowlog import redact
from dbplex.slowlog.model import SlowEntry

log = logging.getLogger("dbplex.slow")

#: slow operations a hub keeps, the latest ones (older ones are in the log).
KEEP = 1000


class SlowPlugin:
    """Wraps ``dbplex_query``; records the operations of its hub's sources that reach their threshold."""

    def __init__(self) -> None:
        #: threshold in seconds and redaction, by id of each watched endpoint's source.
        self._watched: dict[int, tuple[float, bool]] = {}
        #: the watched sources themselves, kept alive so that their ids are never reused by another's.
        self._kept: list[Source] = []
        self._ring: deque[SlowEntry] = deque(maxlen=KEEP)
        self._lock = threading.Lock()

    def watch(self, sources: Iterable[Source]) -> None:
        """Time the operations of these endpoints' sources that have a threshold, from now on."""
        for source in sources:
            slow = source.config.slow
            if slow.threshold_ms is not None:
                self._kept.append(source)
                self._watched[id(source)] = (slow.threshold_ms / 1000, slow.redact)

    @hookimpl(wrapper=True)
    def dbplex_query(self, source: Source, conn: Any, op: Any) -> Generator[None, Any, Any]:
        started = time.perf_counter()
        try:
            result = yield
        except BaseException as exc:
            self.finished(source, op, time.perf_counter() - started, type(exc).__name__)
            raise
        self.finished(source, op, time.perf_counter() - started, None)
        return result

    def compose_dbplex_query(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        """What :meth:`dbplex_query` does, as a plain closure around ``inner`` (see ``plugins._direct``)."""
        watched, clock, finished = self._watched, time.perf_counter, self.finished

        def call(*, source: Source, conn: Any, op: Any) -> Any:
            watch = watched.get(id(source))
            if watch is None:
                return inner(source=source, conn=conn, op=op)
            started = clock()
            try:
                result = inner(source=source, conn=conn, op=op)
            except BaseException as exc:
                finished(source, op, clock() - started, type(exc).__name__)
                raise
            seconds = clock() - started
            if seconds >= watch[0]:  # the common case, a fast op, costs two clock reads and this
                finished(source, op, seconds, None)
            return result

        return call

    @hookimpl(wrapper=True)
    def dbplex_async_query(self, source: Source, conn: Any, op: Any) -> Generator[None, Any, Any]:
        running = yield
        return None if running is None or id(source) not in self._watched else self._timed(source, op, running)

    def compose_dbplex_async_query(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        """:meth:`dbplex_async_query` as a closure around ``inner``, as :meth:`compose_dbplex_query`."""
        watched, timed = self._watched, self._timed

        def call(*, source: Source, conn: Any, op: Any) -> Any:
            running = inner(source=source, conn=conn, op=op)
            return running if running is None or id(source) not in watched else timed(source, op, running)

        return call

    async def _timed(self, source: Source, op: Any, running: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        try:
            result = await running
        except BaseException as exc:
            self.finished(source, op, time.perf_counter() - started, type(exc).__name__, in_task=True)
            raise
        self.finished(source, op, time.perf_counter() - started, None, in_task=True)
        return result

    def finished(self, source: Source, op: Any, seconds: float, error: str | None, *, in_task: bool = False) -> None:
        """Record one operation of ``source`` that took ``seconds``, if it is watched and slow;
        ``in_task``: an async op, whose checkout is the running task's, not the thread's."""
        watched = self._watched.get(id(source))
        if watched is None or seconds < watched[0]:
            return
        latest = task_checkout_wait.get() if in_task else checkout_wait.latest
        wait = latest[1] if latest is not None and latest[0] is source else None
        entry = SlowEntry(
            source=source.name.split("/", 1)[0],
            origin="client",
            operation=redact.describe(op, watched[1]),
            duration_ms=round(seconds * 1000, 3),
            at=time.time(),
            endpoint=source.name,
            pool_wait_ms=None if wait is None else round(wait * 1000, 3),
            error=error,
        )
        with self._lock:
            self._ring.append(entry)
        log.warning(
            "slow operation on %s: %.1f ms (pool wait %s): %s%s",
            entry.endpoint,
            entry.duration_ms,
            "unknown" if entry.pool_wait_ms is None else f"{entry.pool_wait_ms:.1f} ms",
            entry.operation,
            f" (failed: {error})" if error else "",
            extra={"slow_entry": entry},
        )

    def entries(self) -> list[SlowEntry]:
        """The slow operations kept, oldest first."""
        with self._lock:
            return list(self._ring)
