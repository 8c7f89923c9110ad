"""A phase's pool wait, from the pool's own counters rather than from the timed loop.

The pool times every checkout anyway (``PoolStats.wait``: count, total and longest since it
opened), and that timing is part of what dbplex costs. Reading those counters before and after a
phase gives the phase's wait without a clock read in the loop, so the dbplex side and the raw
driver run the identical loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dbplex.bench.results import PhaseStats, PoolWait
from dbplex.pool import Timing

if TYPE_CHECKING:
    from dbplex.aio.hub import AsyncHub
    from dbplex.hub import Hub

#: wait counters by pool name (``source``, ``source/replica1``, ...).
Snapshot = dict[str, Timing]


def snapshot(hub: Hub | AsyncHub, source: str) -> Snapshot:
    """The wait counters of the pools that run ``source``'s ops: its own and its replicas' (not admin)."""
    return {
        name: stats.wait
        for name, stats in hub.pool_stats().items()
        if name == source or name.startswith(f"{source}/replica")
    }


def between(before: Snapshot, after: Snapshot) -> PoolWait | None:
    """The wait of the checkouts made from ``before`` to ``after`` (a pool opened in between counts from zero)."""
    parts = []
    for name, end in after.items():
        start = before.get(name, Timing())
        checkouts = end.count - start.count
        parts.append(
            PoolWait(
                checkouts=checkouts,
                total_us=(end.total_ms - start.total_ms) * 1000,
                max_us=end.max_ms * 1000 if checkouts else 0.0,
                # the pool keeps one maximum since it opened: unchanged, it may be an earlier phase's
                max_bound=checkouts > 0 and end.max_ms <= start.max_ms,
            )
        )
    return merge(parts)


def merge(parts: Iterable[PoolWait | None]) -> PoolWait | None:
    """Several pools, worker processes or rounds as one: checkouts and totals add, the longest wins."""
    found = [p for p in parts if p is not None]
    if not found:
        return None
    checkouts = sum(p.checkouts for p in found)
    total = sum(p.total_us for p in found)
    longest = max(found, key=lambda p: (p.max_us, not p.max_bound))  # on a tie, an exact maximum
    return PoolWait(
        checkouts=checkouts,
        total_us=round(total, 3),
        mean_us=round(total / checkouts, 3) if checkouts else 0.0,
        max_us=round(longest.max_us, 3),
        max_bound=longest.max_bound,
    )


def of_phases(phases: Iterable[PhaseStats]) -> PoolWait | None:
    """The pool wait of ``phases`` (rounds of one target) together."""
    phases = list(phases)
    if any(p.pool_wait is not None for p in phases):
        return merge(p.pool_wait for p in phases)
    return from_histograms(op.wait.encoded for p in phases for op in p.ops_by_type.values() if op.wait)


def from_histograms(encoded: Iterable[str]) -> PoolWait | None:
    """The per-operation wait histograms of older results, read as the same summary."""
    # imported here: dbplex.bench.targets (which the conformance suite's baseline section uses)
    # imports this module, and the suite must run without the bench extra's hdrhistogram
    from dbplex.bench import histogram as hdr

    encoded = list(encoded)
    if not encoded:
        return None
    summary = hdr.summarize(hdr.merge(encoded))
    return PoolWait(
        checkouts=summary.count,
        total_us=summary.mean_us * summary.count,
        mean_us=summary.mean_us,
        max_us=summary.max_us,
    )
