"""Result documents built from known latencies, for tests that need no server."""

from __future__ import annotations

from dbplex.bench import histogram as hdr
from dbplex.bench import workload
from dbplex.bench.overhead import overheads
from dbplex.bench.recorder import Phase, Recorder
from dbplex.bench.results import BenchResult, Environment, PhaseStats, Run, Settings


def phase_stats(latency_us: int, ops: int, duration_s: float) -> PhaseStats:
    recorder = Recorder(open_loop=False)
    rec = recorder.op("read")
    for _ in range(ops):
        hdr.record(rec.latency, latency_us)
    rec.count = recorder.units = ops
    phase = Phase("run")
    phase.add_recorder(recorder)
    return phase.stats(duration_s=duration_s, complete=True)


def make_result(targets: dict[tuple[str, str], list[tuple[float, int]]], workload_name: str = "c") -> BenchResult:
    """A result with one run per round: ``{("pg", "dbplex"): [(ops_per_s, latency_us), ...], ...}``."""
    runs = []
    for (source, target), rounds in targets.items():
        for number, (rate, latency) in enumerate(rounds, start=1):
            ops = 1000
            runs.append(
                Run(
                    source=source,
                    backend=source,
                    target="dbplex" if target == "dbplex" else "raw",
                    label=target,
                    round=number,
                    threads=1,
                    pool_size=1,
                    phases={"run": phase_stats(latency, ops, ops / rate)},
                )
            )
    return BenchResult(
        kind="run",
        complete=True,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:01:00+00:00",
        environment=Environment(
            dbplex="0.1.0",
            python="3.11",
            implementation="CPython",
            platform="Linux",
            machine="x86_64",
            cpu_count=2,
            cpus_available=2,
        ),
        workload=workload.load(workload_name),
        settings=Settings(sources=sorted({s for s, _ in targets}), threads=[1], pool_sizes=[1]),
        runs=runs,
        overheads=overheads(runs),
    )
