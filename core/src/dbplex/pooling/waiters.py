"""The error for a caller turned away by ``pool.max_waiting`` (fail fast rather than queue)."""

from __future__ import annotations

from dbplex.errors import PoolFull
from dbplex.pool import PoolCounters


def full_error(source: str, limit: int, counters: PoolCounters) -> PoolFull:
    """:class:`PoolFull` naming the limit, counted as ``rejected``."""
    counters.count("rejected")
    return PoolFull(
        f"source {source!r}: no free connection and the wait queue is full (pool.max_waiting = {limit}); "
        "raise pool.max_size or pool.max_waiting, or shed load"
    )
