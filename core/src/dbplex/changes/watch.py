"""``hub.watch(...)``: a blocking iterator over one source's changes, stoppable from any thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from dbplex.changes.feed import Change, ChangeFeed
from dbplex.changes.watching import Limits

#: the longest single wait on the server, so that :meth:`Watch.close` takes effect soon.
WAIT_STEP = 0.5


class Progress:
    """Where a watch is and when it ends (``timeout`` seconds from :meth:`begin`, or ``count``
    changes): the bookkeeping both hubs' watches share, without I/O."""

    def __init__(self, position: str, limits: Limits) -> None:
        #: the position of the last change delivered (or where the watch started).
        self.position = position
        self._timeout, self._left = limits
        self._deadline: float | None = None

    def begin(self) -> None:
        """Start the clock of ``timeout``."""
        self._deadline = None if self._timeout is None else time.monotonic() + self._timeout

    def wait(self) -> float:
        """How long the next read may wait on the server; 0 or less when the watch is over."""
        if self._left is not None and self._left <= 0:
            return 0.0
        return WAIT_STEP if self._deadline is None else min(WAIT_STEP, self._deadline - time.monotonic())

    def deliver(self, changes: Iterable[Change]) -> Iterator[Change]:
        """Each of ``changes``, the position moved to it first, until ``count`` is reached."""
        for change in changes:
            if self._left is not None:
                if self._left <= 0:
                    return
                self._left -= 1
            self.position = change.position
            yield change


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
        self._stopped = threading.Event()
        self._iterating = False
        try:
            self._progress = Progress(feed.start(self._tables, after), (timeout, count))
        except BaseException:
            feed.close()
            raise

    @property
    def position(self) -> str:
        return self._progress.position

    def __iter__(self) -> Iterator[Change]:
        self._progress.begin()
        self._iterating = True
        try:
            yield from self._changes()
        finally:
            self._iterating = False
            if self._stopped.is_set():
                self._feed.close()

    def _changes(self) -> Iterator[Change]:
        progress = self._progress
        while not self._stopped.is_set():
            wait = progress.wait()
            if wait <= 0:
                return
            for change in progress.deliver(self._feed.read(self._tables, progress.position, wait)):
                yield change
                if self._stopped.is_set():
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
