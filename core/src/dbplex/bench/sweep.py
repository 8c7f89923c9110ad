"""``dbplex bench sweep``: throughput and p99 against pool size, per thread count, and a recommended pool size.

Each point is a run of the workload through dbplex (and, if asked, the raw driver). Rounds go
over the whole grid, pool sizes ascending in odd rounds and descending in even ones, so that
slow drift on the machine does not tilt the curve; a point's throughput is its median round.
"""

from __future__ import annotations

import statistics

from dbplex.bench import histogram as hdr
from dbplex.bench import poolwait
from dbplex.bench.knee import knee, noise, recommend, rule_of_thumb
from dbplex.bench.results import BenchResult, Run, Sweep, SweepPoint, SweepSource
from dbplex.bench.runner import Display, Runner
from dbplex.bench.workload import Resolved
from dbplex.config import Config


def run(
    config: Config,
    resolved: Resolved,
    sources: list[str],
    *,
    pool_sizes: list[int],
    threads: list[int],
    tolerance: float = 0.05,
    server_cores: int,
    spindles: int = 1,
    rounds: int = 1,
    load: bool = True,
    with_baseline: bool = False,
    processes: int = 1,
    target_rate: float | None = None,
    max_seconds: float | None = None,
    display: Display | None = None,
) -> BenchResult:
    runner = Runner(
        config,
        resolved,
        sources,
        display=display,
        processes=processes,
        target_rate=target_rate,
        rounds=1,
        with_baseline=with_baseline,
        max_seconds=max_seconds,
    )
    runner.check()
    runs: list[Run] = []
    try:
        loaders = min(max(threads), 8)
        if load:
            runner.load(loaders, loaders)
        for round_no in range(1, rounds + 1):
            sizes = pool_sizes if round_no % 2 else list(reversed(pool_sizes))
            for t in threads:
                for size in sizes:
                    runs += runner.point(t, size, range(round_no, round_no + 1))
                    if runner.incomplete:
                        raise _Stop
    except (KeyboardInterrupt, _Stop):
        runner.incomplete = runner.incomplete or "interrupted (Ctrl-C) between phases"
    verdict = Sweep(
        pool_sizes=pool_sizes,
        threads=threads,
        tolerance=tolerance,
        server_cores=server_cores,
        spindles=spindles,
        sources=[s for s in (_verdict(runs, name, tolerance, server_cores, spindles) for name in sources) if s],
    )
    return runner.result("sweep", runner.settings(threads, pool_sizes, load, rounds), runs, sweep=verdict)


class _Stop(Exception):
    """The runner stopped early; leave the grid."""


def points(runs: list[Run], source: str, target: str = "dbplex") -> list[SweepPoint]:
    """One point per (threads, pool size): median throughput over rounds, p99 of the merged histograms."""
    grouped: dict[tuple[int, int], list[Run]] = {}
    for run in runs:
        if run.source == source and run.target == target and "run" in run.phases:
            grouped.setdefault((run.threads, run.pool_size), []).append(run)
    found = []
    for (threads, size), group in sorted(grouped.items()):
        phases = [r.phases["run"] for r in group]
        latency = hdr.summarize(hdr.merge(p.latency.encoded for p in phases if p.latency))
        found.append(
            SweepPoint(
                threads=threads,
                pool_size=size,
                throughput=round(statistics.median(p.throughput for p in phases), 1),
                p99_us=latency.p99_us,
                pool_wait=poolwait.of_phases(phases),
                rounds=[p.throughput for p in phases],
            )
        )
    return found


def _verdict(runs: list[Run], source: str, tolerance: float, cores: int, spindles: int) -> SweepSource | None:
    found = points(runs, source)
    if not found:
        return None
    thread_counts = sorted({p.threads for p in found})
    knees, tolerances = {}, {}
    for t in thread_counts:
        curve = [p for p in found if p.threads == t]
        tolerances[t] = round(max(tolerance, noise(p.rounds for p in curve)), 4)
        knees[t] = knee(((p.pool_size, p.throughput) for p in curve), tolerances[t])
    backend = next(r.backend for r in runs if r.source == source)
    return SweepSource(
        source=source,
        backend=backend,
        points=found,
        knees=knees,
        tolerances=tolerances,
        recommended_pool_size=recommend(knees),
        rule_of_thumb=rule_of_thumb(cores, spindles),
        rule=f"2 × {cores} server cores + {spindles} effective spindle{'s' if spindles != 1 else ''}",
    )
