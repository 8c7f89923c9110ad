"""Randomised lifetimes and reconnect delays, so that connections and clients do not act in step.

Connections opened together (a pool warming up, every client after a failover) would otherwise
expire together and reconnect together.
"""

from __future__ import annotations

import random
import threading
import time


def lifetime_deadline(opened_at: float, max_lifetime: float, jitter: float) -> float:
    """When a connection opened at ``opened_at`` should be replaced: ``max_lifetime`` shortened
    by a random fraction of at most ``jitter``, so the configured lifetime is never exceeded."""
    return opened_at + max_lifetime * (1.0 - jitter * random.random())


class Backoff:
    """Reconnect pacing for a pool whose server is down: exponential delays with full jitter,
    capped at ``maximum`` and never giving up.

    After a failed attempt, :meth:`wait_left` tells callers how long to fail fast (with the last
    reason) instead of each trying to connect; a success resets it.
    """

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self._lock = threading.Lock()
        self._delay = 0.0
        self._retry_at = 0.0
        #: why the latest attempt failed, and since when attempts have been failing; None when up.
        self.reason: str | None = None
        self.down_since: float | None = None

    def failed(self, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._delay = min(max(self._delay * 2, self.minimum), self.maximum)
            self._retry_at = now + random.uniform(self._delay / 2, self._delay)
            self.reason = reason
            if self.down_since is None:
                self.down_since = now

    def succeeded(self) -> None:
        if self.down_since is not None:  # the common case reads one attribute
            with self._lock:
                self._delay = self._retry_at = 0.0
                self.reason = self.down_since = None

    def wait_left(self) -> float:
        """Seconds until the next attempt is due; 0 when one may be made now."""
        return max(self._retry_at - time.monotonic(), 0.0) if self.down_since is not None else 0.0
