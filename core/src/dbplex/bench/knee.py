"""Where more connections stop paying: the knee of throughput against pool size.

The knee is the smallest pool size whose throughput is within ``tolerance`` of the best one
measured at that thread count: past it, connections add cost (memory, server processes,
contention) without adding throughput. When rounds of the same point differ by more than the
tolerance, differences that small are noise, so the round spread widens the tolerance. A sweep
recommends the largest knee over its thread counts, the pool that serves the busiest load it
measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping


def knee(points: Iterable[tuple[int, float]], tolerance: float) -> int:
    """The smallest x whose y is at least ``(1 - tolerance)`` of the largest y."""
    ordered = sorted(points)
    if not ordered:
        raise ValueError("no points")
    best = max(y for _, y in ordered)
    return next(x for x, y in ordered if y >= (1 - tolerance) * best)


def noise(rounds: Iterable[list[float]]) -> float:
    """The typical spread of repeated measurements: the median of ``(max - min) / median`` per point."""
    spreads = sorted(
        (max(values) - min(values)) / statistics.median(values)
        for values in rounds
        if len(values) > 1 and statistics.median(values) > 0
    )
    return statistics.median(spreads) if spreads else 0.0


def recommend(knees: Mapping[int, int]) -> int:
    """The pool size for the busiest thread count measured: the largest knee."""
    return max(knees.values())


def rule_of_thumb(server_cores: int, spindles: int) -> int:
    """PostgreSQL's classic starting point for a pool: 2 × server cores + effective spindles."""
    return 2 * server_cores + spindles
