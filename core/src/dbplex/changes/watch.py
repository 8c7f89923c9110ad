"""``hub.watch(...)``: a blocking iterator over one source's changes, stoppable from any thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from dbplex.changes.feed import Change, ChangeFeed

#: the longest single wait on the server, so that :meth:`Watch.close` takes effect soon.
WAIT_STEP = 0.5


class Watch:
    """Changes of ``tables`` after ``after`` (or from now), as they come.

    Iterating blocks until the next change; it ends when ``timeout`` seconds have passed, after
    ``count`` changes, or once :meth:`close` was called (from another thread, or by leaving the
    ``with`` block). :attr:`position` is the position of the last change yielded: store it after
    handling the change and pass it as ``after=`` to resume.
    """

    def __init__(
        self,
        feed: ChangeFeed,
        tables: Sequence[str],
        *,
        after: str | None = None,
        timeout: float | None = None,
        count: int | None = None,
    ) -> None:
        self._feed = feed
        self._tables = list(tables)
        self._timeout = timeout
        self._count = count
        self._stopped = threading.Event()
        self._iterating = False
        try:
            self.position = feed.start(self._tables, after)
        except BaseException:
            feed.close()
            raise

    def __iter__(self) -> Iterator[Change]:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        self._iterating = True
        try:
            yield from self._changes(deadline)
        finally:
            self._iterating = False
            if self._stopped.is_set():
                self._feed.close()

    def _changes(self, deadline: float | None) -> Iterator[Change]:
        delivered = 0
        while not self._stopped.is_set() and (self._count is None or delivered < self._count):
            wait = WAIT_STEP if deadline is None else min(WAIT_STEP, deadline - time.monotonic())
            if wait <= 0:
                return
            for change in self._feed.read(self._tables, self.position, wait):
                self.position = change.position
                yield change
                delivered += 1
                if self._stopped.is_set() or (self._count is not None and delivered >= self._count):
                    return

    def close(self) -> None:
        """Stop the iteration (at its next wait, when called from another thread) and give back
        the feed's session (then, by the iterating thread, which may still be using it)."""
        self._stopped.set()
        if not self._iterating:
            self._feed.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
