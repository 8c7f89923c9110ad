"""Leak detection: a connection held past a threshold is reported with where it was taken.

Only when a source sets ``pool.leak_threshold``: a checkout then records the caller's
``file:line`` (the first frame outside dbplex and the database drivers), which costs a short
frame walk; with detection off, no pool calls into this module on its hot path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Hashable

import msgspec

from dbplex import secrets
from dbplex.pool import PoolCounters

log = secrets.logger("dbplex.pool")

#: top-level packages whose frames are never "the caller".
_INTERNAL = frozenset(
    {"dbplex", "dbplex_pg", "dbplex_mongo", "dbplex_redis", "pluggy", "contextlib", "psycopg", "psycopg_pool"}
    | {"redis", "pymongo", "bson", "threading"}
)


Site = tuple[str, int, str]  # file, line, function: formatted only when reported


def caller() -> Site:
    """The nearest frame outside dbplex and the drivers, as (file, line, function)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).partition(".")[0] in _INTERNAL:
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


def site(where: Site) -> str:
    """``file:line in function``, the file relative to the working directory when below it."""
    path, line, function = where
    with contextlib.suppress(ValueError):  # another drive (Windows)
        path = os.path.relpath(path)
    return f"{path}:{line} in {function}"


class Holder(msgspec.Struct, frozen=True):
    """A checkout held past the threshold."""

    where: str
    seconds: float


class LeakDetector:
    """Checkouts in flight with their callers; :meth:`sweep` reports those held too long, once each."""

    def __init__(self, source: str, threshold: float, counters: PoolCounters) -> None:
        self.source = source
        self.threshold = threshold
        self._counters = counters
        self._lock = threading.Lock()
        #: key of a checkout -> (monotonic time taken, caller, reported yet)
        self._held: dict[Hashable, tuple[float, Site, bool]] = {}

    def taken(self, key: Hashable) -> None:
        where = caller()
        with self._lock:
            self._held[key] = (time.monotonic(), where, False)

    def returned(self, key: Hashable) -> None:
        with self._lock:
            entry = self._held.pop(key, None)
        if entry is not None and entry[2]:
            log.warning(
                "source %r: the connection taken at %s came back after %.1fs",
                self.source,
                site(entry[1]),
                time.monotonic() - entry[0],
            )

    def sweep(self) -> None:
        """Log and count every checkout newly held past the threshold."""
        now = time.monotonic()
        found = []
        with self._lock:
            for key, (since, where, reported) in self._held.items():
                if not reported and now - since >= self.threshold:
                    self._held[key] = (since, where, True)
                    found.append((where, now - since))
        if found:
            self._counters.count("leaks", len(found))
        for where, seconds in found:
            log.warning(
                "source %r: a connection has been held for %.1fs (pool.leak_threshold %gs); taken at %s",
                self.source,
                seconds,
                self.threshold,
                site(where),
            )

    def holders(self) -> list[Holder]:
        """Checkouts held past the threshold, longest first."""
        now = time.monotonic()
        with self._lock:
            held = [(now - since, where) for since, where, _ in self._held.values() if now - since >= self.threshold]
        return [Holder(site(where), seconds) for seconds, where in sorted(held, reverse=True)]

    def describe(self) -> str:
        """A clause for a timeout message naming the longest holder, or ``""``."""
        self.sweep()
        held = self.holders()
        if not held:
            return ""
        more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
        return f"; held longest ({held[0].seconds:.1f}s) by {held[0].where}{more}"
