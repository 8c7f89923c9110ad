"""A circuit breaker per replica: consecutive failures take it out of the read rotation."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("dbplex.routing")

CLOSED = "closed"
OPEN = "open"


class Breaker:
    """Opens after ``threshold`` consecutive failures; only a passing health check closes it.

    Reads never go to a replica whose breaker is open, so no read is spent finding out whether
    it is back: the router's checker (or ``Hub.health()``) probes it once ``reset_after``
    seconds have passed since it opened (or since the last failed probe).
    """

    __slots__ = ("_lock", "failures", "name", "opened_at", "reset_after", "state", "threshold", "trips")

    def __init__(self, threshold: int, reset_after: float, name: str = "replica") -> None:
        self._lock = threading.Lock()
        #: what it guards, for its log lines (``pg/replica1``).
        self.name = name
        self.threshold = threshold
        self.reset_after = reset_after
        self.state = CLOSED
        #: consecutive failures while closed.
        self.failures = 0
        #: monotonic time it opened, or last failed a probe while open.
        self.opened_at = 0.0
        #: how many times it opened: a counter for health output.
        self.trips = 0

    def after_fork(self) -> None:
        """In a forked child: a new lock (another thread of the parent may have held the old one)."""
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self.state is CLOSED

    def failure(self) -> None:
        with self._lock:
            if self.state is OPEN:
                self.opened_at = time.monotonic()
                return
            self.failures += 1
            if self.failures >= self.threshold:
                self.state, self.opened_at, self.trips = OPEN, time.monotonic(), self.trips + 1
                log.warning(
                    "%s: out of the read rotation after %d failures in a row; reads go elsewhere until a health "
                    "check passes",
                    self.name,
                    self.failures,
                )

    def success(self) -> None:
        """A read or a health check that passed: the count of failures starts again; an open breaker closes."""
        with self._lock:
            if self.state is OPEN:
                log.info("%s: back in the read rotation (a health check passed)", self.name)
            self.state, self.failures = CLOSED, 0

    def probe_due(self) -> bool:
        """Whether an open breaker has waited long enough for a health check to try the replica again."""
        return self.state is OPEN and time.monotonic() - self.opened_at >= self.reset_after
