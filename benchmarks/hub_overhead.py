"""The loop shared by ``metrics_overhead.py`` and ``slowlog_overhead.py`` (not a benchmark by itself).

Opens one hub per labelled configuration on one URL, in the order given (the first is the
baseline "off": opened first, so its query hook stays unwrapped), times ``Get`` of one small
record on each, rounds alternating, and prints the best process CPU time per op of each and the
overhead over the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import dbplex
from dbplex import Get, Put


def cpu_us(hub: dbplex.Hub, op: Get, ops: int) -> float:
    """Process CPU time per ``op`` over ``ops`` calls, in microseconds."""
    started = time.process_time()
    for _ in range(ops):
        hub.execute("s", op)
    return (time.process_time() - started) / ops * 1e6


def compare(
    table: str, variants: Sequence[tuple[str, Any]], config: Callable[[Any], dict[str, Any]], ops: int, rounds: int
) -> None:
    """Time ``Get`` on one hub per ``(label, setting)``; ``config(setting)`` is that hub's configuration."""
    hubs = {label: dbplex.open(config(setting)) for label, setting in variants}
    baseline = variants[0][0]
    op = Get(table=table, key="k")
    for hub in hubs.values():
        hub.execute("s", Put(table=table, key="k", values={"a": 1}))
        cpu_us(hub, op, 1000)  # warm up
    best = dict.fromkeys(hubs, float("inf"))
    for _ in range(rounds):
        for label, hub in hubs.items():
            best[label] = min(best[label], cpu_us(hub, op, ops))
    for label, us in best.items():
        print(f"{label:8} {us:7.2f} us/op  {100 * (us / best[baseline] - 1):+5.1f}%")
    for hub in hubs.values():
        hub.close()
