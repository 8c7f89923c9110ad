"""What the read-through cache counts: per cached table, in this process and across the fleet."""

from __future__ import annotations

import threading

import msgspec

#: the hash in the store that every process adds its counts to, per cached table. Outside the
#: ``cache:`` families on purpose: it has no TTL, and analyze reports TTL-less keys there.
SHARED_PREFIX = "dbplex:cache-stats:"


class CacheStats(msgspec.Struct, kw_only=True):
    """The counts of one cached table (``SOURCE.TABLE``).

    ``hits + misses`` is every cached read; a miss that stored its entry is a ``fill``, one
    whose lease a write took away first is ``lost`` (it returned the value it read and stored
    nothing). ``age_*`` is the staleness of what hits served: the age of the entry when read,
    the time since it was filled.
    """

    table: str
    ttl: float
    hits: int = 0
    misses: int = 0
    fills: int = 0
    lost: int = 0
    invalidations: int = 0
    #: store failures: a read that fell back to the source, or a write not invalidated.
    errors: int = 0
    age_sum: float = 0.0
    age_max: float = 0.0

    @property
    def reads(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float | None:
        """Hits over cached reads; None before the first read."""
        return self.hits / self.reads if self.reads else None

    @property
    def age_mean(self) -> float | None:
        """Mean age in seconds of the entries hits served; None before the first hit."""
        return self.age_sum / self.hits if self.hits else None


class Counters:
    """This process's :class:`CacheStats` of each cached table, updated under one lock."""

    def __init__(self, ttls: dict[str, float]) -> None:
        self._lock = threading.Lock()
        self._stats = {table: CacheStats(table=table, ttl=ttl) for table, ttl in ttls.items()}

    def hit(self, table: str, age: float) -> None:
        with self._lock:
            stats = self._stats[table]
            stats.hits += 1
            stats.age_sum += age
            stats.age_max = max(stats.age_max, age)

    def add(self, table: str, field: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``field`` (``misses``, ``fills``, ``lost``, ``invalidations``, ``errors``)."""
        with self._lock:
            stats = self._stats[table]
            setattr(stats, field, getattr(stats, field) + n)

    def snapshot(self) -> dict[str, CacheStats]:
        with self._lock:
            return {table: msgspec.structs.replace(stats) for table, stats in self._stats.items()}
