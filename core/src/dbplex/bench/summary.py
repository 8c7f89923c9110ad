"""Results reduced to one line per target: rounds merged by histogram, throughput as the median round.

Used by the summary table, CSV export, ``compare`` and ``report``, so they all agree.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable
from pathlib import Path

import msgspec

from dbplex.bench import histogram as hdr
from dbplex.bench import poolwait
from dbplex.bench.results import BenchResult, PoolWait, Run, Summary


class TargetSummary(msgspec.Struct, kw_only=True, frozen=True):
    """One target at one (threads, pool size) point, over its rounds."""

    source: str
    backend: str
    target: str
    label: str
    threads: int
    pool_size: int
    processes: int
    rounds: int
    #: median throughput of the rounds' run phases, successful operations per second.
    throughput: float
    round_throughputs: list[float]
    ops: int
    errors: int
    latency: Summary
    #: pool wait per checkout (dbplex only), from the pool's own counters.
    pool_wait: PoolWait | None
    by_op: dict[str, Summary]
    errors_by_op: dict[str, int]
    #: open loop: schedule lag and operations that started late.
    lag: Summary | None
    late: int
    client_cpu_pct: float | None
    complete: bool

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.source, self.target, self.threads, self.pool_size)


def summarize(result: BenchResult, phase: str = "run") -> list[TargetSummary]:
    groups: dict[tuple[str, str, int, int], list[Run]] = {}
    for run in result.runs:
        if phase in run.phases:
            groups.setdefault((run.source, run.target, run.threads, run.pool_size), []).append(run)
    return [_summarize(runs, phase) for runs in groups.values()]


def _merged(encoded: Iterable[str]) -> Summary:
    return hdr.summarize(hdr.merge(encoded))


def _summarize(runs: list[Run], phase: str) -> TargetSummary:
    stats = [run.phases[phase] for run in runs]
    first = runs[0]
    op_names = sorted({name for s in stats for name in s.ops_by_type})
    by_op = {
        name: _merged(s.ops_by_type[name].latency.encoded for s in stats if name in s.ops_by_type) for name in op_names
    }
    lags = [s.lag.encoded for s in stats if s.lag is not None]
    cpu = [s.client_cpu_pct for s in stats if s.client_cpu_pct is not None]
    throughputs = [s.throughput for s in stats]
    return TargetSummary(
        source=first.source,
        backend=first.backend,
        target=first.target,
        label=first.label,
        threads=first.threads,
        pool_size=first.pool_size,
        processes=first.processes,
        rounds=len(runs),
        throughput=round(statistics.median(throughputs), 1),
        round_throughputs=throughputs,
        ops=sum(s.ops for s in stats),
        errors=sum(s.errors for s in stats),
        latency=_merged(s.latency.encoded for s in stats if s.latency is not None),
        pool_wait=poolwait.of_phases(stats),
        by_op=by_op,
        errors_by_op={
            name: sum(s.ops_by_type[name].errors for s in stats if name in s.ops_by_type) for name in op_names
        },
        lag=_merged(lags) if lags else None,
        late=sum(s.late for s in stats),
        client_cpu_pct=round(statistics.median(cpu), 1) if cpu else None,
        complete=all(s.complete for s in stats),
    )


CSV_COLUMNS = (
    "source",
    "backend",
    "target",
    "label",
    "threads",
    "pool_size",
    "processes",
    "rounds",
    "op",
    "count",
    "errors",
    "throughput_ops_s",
    "mean_us",
    "p50_us",
    "p90_us",
    "p95_us",
    "p99_us",
    "p999_us",
    "max_us",
    "wait_mean_us",
    "wait_max_us",
    "complete",
)


def write_csv(result: BenchResult, path: str | Path) -> Path:
    """One row per target and operation type (``all`` for every type together)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for s in summarize(result):
            for op, latency in [("all", s.latency), *s.by_op.items()]:
                errors = s.errors if op == "all" else s.errors_by_op.get(op, 0)
                writer.writerow(
                    [
                        s.source,
                        s.backend,
                        s.target,
                        s.label,
                        s.threads,
                        s.pool_size,
                        s.processes,
                        s.rounds,
                        op,
                        latency.count,
                        errors,
                        s.throughput if op == "all" else "",
                        latency.mean_us,
                        latency.p50_us,
                        latency.p90_us,
                        latency.p95_us,
                        latency.p99_us,
                        latency.p999_us,
                        latency.max_us,
                        s.pool_wait.mean_us if s.pool_wait and op == "all" else "",
                        s.pool_wait.max_us if s.pool_wait and op == "all" else "",
                        s.complete,
                    ]
                )
    return target
