"""dbplex's overhead over the raw driver, from the runs of both on the same source and point.

Rounds run the two targets back to back in alternating order; the overhead of a round is the
ratio of the two throughputs in it, and the reported overhead is the median of those rounds.
Client CPU time per operation is reported beside it: it measures what dbplex adds to the client
process directly, and the load of other processes on the machine barely moves it.
"""

from __future__ import annotations

import statistics

from dbplex.bench import histogram as hdr
from dbplex.bench.results import Overhead, PhaseStats, Run


def _cpu_us_per_op(phase: PhaseStats) -> float | None:
    if phase.client_cpu_s is None or not phase.ops:
        return None
    return phase.client_cpu_s / phase.ops * 1e6


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def overheads(runs: list[Run]) -> list[Overhead]:
    """One :class:`Overhead` per source and (threads, pool size) that has both targets."""
    groups: dict[tuple[str, int, int], dict[int, dict[str, PhaseStats]]] = {}
    backends: dict[str, str] = {}
    for run in runs:
        phase = run.phases.get("run")
        if phase is not None and phase.ops:
            rounds = groups.setdefault((run.source, run.threads, run.pool_size), {})
            rounds.setdefault(run.round, {})[run.target] = phase
            backends[run.source] = run.backend
    found = []
    for (source, threads, pool_size), rounds in groups.items():
        pairs = [(sides["dbplex"], sides["raw"]) for _, sides in sorted(rounds.items()) if len(sides) == 2]
        if not pairs:
            continue
        per_round = [round((raw.throughput / ours.throughput - 1) * 100, 2) for ours, raw in pairs]
        middle = statistics.median(per_round)
        d_rounds = [ours.throughput for ours, _ in pairs]
        r_rounds = [raw.throughput for _, raw in pairs]
        d, r = statistics.median(d_rounds), statistics.median(r_rounds)
        cpu_pairs = [(_cpu_us_per_op(ours), _cpu_us_per_op(raw)) for ours, raw in pairs]
        cpu_ratios = [(a / b - 1) * 100 for a, b in cpu_pairs if a is not None and b]
        d_lat = hdr.summarize(hdr.merge(ours.latency.encoded for ours, _ in pairs if ours.latency))
        r_lat = hdr.summarize(hdr.merge(raw.latency.encoded for _, raw in pairs if raw.latency))
        found.append(
            Overhead(
                source=source,
                backend=backends[source],
                threads=threads,
                pool_size=pool_size,
                dbplex_ops_s=round(d, 1),
                raw_ops_s=round(r, 1),
                overhead_pct=round(middle, 2),
                round_overheads_pct=per_round,
                noise_pct=round(statistics.median(abs(x - middle) for x in per_round), 2),
                added_us_per_op=round((threads / d - threads / r) * 1e6, 2),
                dbplex_rounds=d_rounds,
                raw_rounds=r_rounds,
                dbplex_cpu_us_per_op=_median_or_none([a for a, _ in cpu_pairs]),
                raw_cpu_us_per_op=_median_or_none([b for _, b in cpu_pairs]),
                cpu_overhead_pct=round(statistics.median(cpu_ratios), 2) if cpu_ratios else None,
                dbplex_p50_us=d_lat.p50_us,
                dbplex_p99_us=d_lat.p99_us,
                raw_p50_us=r_lat.p50_us,
                raw_p99_us=r_lat.p99_us,
            )
        )
    return found
