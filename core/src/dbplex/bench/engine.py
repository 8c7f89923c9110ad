"""Run one phase on worker threads in this process, and add up what they recorded.

Threads start together on a barrier; the clock runs from the barrier to the last thread's end.
Ctrl-C stops the workers after their current operation and returns what they recorded, marked
incomplete, so the caller can still write it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter_ns

import msgspec

from dbplex.bench import poolwait
from dbplex.bench.baseline import Baseline
from dbplex.bench.generators import InsertCounter
from dbplex.bench.recorder import Phase, Recorder
from dbplex.bench.results import PhaseStats, PoolWait
from dbplex.bench.stream import OpStream, insert_counter, load_keys, stream_rng
from dbplex.bench.worker import Tally, Worker, split
from dbplex.bench.workload import Workload

#: a single process whose CPU use reaches this share of one core is probably what limits the run.
SATURATED_PCT = 90.0


class PhaseSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one process runs of a phase."""

    phase: str
    #: operations (records, for ``load``) this process runs.
    ops: int
    threads: int
    #: operations per second this process aims at; None runs closed loop.
    target_rate: float | None = None
    max_seconds: float | None = None
    process: int = 0
    processes: int = 1


@dataclass
class Outcome:
    stats: PhaseStats
    interrupted: bool


def cpu_seconds() -> float | None:
    """User + system CPU time of this process so far; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def saturation_warning(cpu_pct: float | None, processes: int, cpus: int) -> str | None:
    """A warning when the client, not the database, may be what limits throughput."""
    if cpu_pct is None:
        return None
    if processes == 1 and cpu_pct >= SATURATED_PCT:
        return (
            f"the client process used {cpu_pct:.0f}% of a CPU core: one Python process runs about one core's worth "
            "of Python at a time, so the client may be the bottleneck; try --processes 2 or more"
        )
    if processes > 1 and cpu_pct >= SATURATED_PCT * cpus:
        return (
            f"the client used {cpu_pct:.0f}% CPU over {cpus} cores: the machine is saturated, numbers are client-bound"
        )
    return None


class Meter:
    """The process's CPU time and the pool's wait counters, read before a phase's workers start
    and after they end, so the timed loops pay nothing for them (threads and ``--async`` alike)."""

    def __init__(self, pool_wait: Callable[[], poolwait.Snapshot] | None) -> None:
        self._pool_wait = pool_wait
        self._cpu = cpu_seconds()
        self._waits = pool_wait() if pool_wait is not None else None

    def read(self) -> tuple[float | None, PoolWait | None]:
        """The CPU seconds used and the pool's waits since the meter was made (None where unknown)."""
        cpu = cpu_seconds()
        waits = self._pool_wait() if self._pool_wait is not None else None
        return (
            cpu - self._cpu if cpu is not None and self._cpu is not None else None,
            poolwait.between(self._waits, waits) if self._waits is not None and waits is not None else None,
        )


def run_phase(
    spec: PhaseSpec,
    workload: Workload,
    make_client: Callable[[], Baseline],
    *,
    pool_wait: Callable[[], poolwait.Snapshot] | None = None,
    counter: InsertCounter | None = None,
    progress: Callable[[int], None] | None = None,
    start: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Run ``spec`` on ``spec.threads`` threads, each with a client from ``make_client``.

    ``pool_wait`` reads the pool's wait counters (dbplex side), before the workers start and after
    they end: the phase's pool wait costs the timed loop nothing. ``progress`` is called
    from this thread with the number of operations done, about ten times a second; ``start``
    is called right before the workers are released (worker processes wait on a barrier there);
    setting ``stop`` ends the phase early, as Ctrl-C does.
    """
    counter = counter or insert_counter(workload, spec.process, spec.processes)
    stop = stop or threading.Event()
    open_loop = spec.target_rate is not None and spec.phase != "load"
    workers, streams = [], []
    for t in range(spec.threads):
        streams.append(OpStream(workload, counter, stream_rng(workload.seed, spec.phase, spec.process, t)))
        workers.append(Worker(make_client(), Recorder(open_loop=open_loop), stop))
    counts = split(spec.ops, spec.threads)
    started_ns = [0]
    barrier = threading.Barrier(spec.threads + 1, action=lambda: started_ns.__setitem__(0, perf_counter_ns()))
    failures: list[BaseException] = []

    def body(t: int) -> None:
        worker, stream = workers[t], streams[t]
        if spec.phase == "load":
            parts = spec.threads * spec.processes
            keys = load_keys(workload, spec.process * spec.threads + t, parts)
            worker.load(workload.table, keys, stream, workload.insertbatchsize)
        elif open_loop:
            assert spec.target_rate is not None
            interval = 1e9 * spec.threads / spec.target_rate
            worker.open_loop(stream, counts[t], counter, started_ns[0] + int(t * interval / spec.threads), interval)
        else:
            worker.closed_loop(stream, counts[t], counter)

    def thread_main(t: int) -> None:
        try:
            barrier.wait()
            body(t)
        except BaseException as exc:  # a bug, not a failed operation: re-raised in the caller
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=thread_main, args=(t,), name=f"dbplex-bench-{t}", daemon=True)
        for t in range(spec.threads)
    ]
    for thread in threads:
        thread.start()
    if start is not None:
        start()
    meter = Meter(pool_wait)
    timer: threading.Timer | None = None
    interrupted = False
    try:
        barrier.wait()
        if spec.max_seconds and spec.phase != "load":
            timer = threading.Timer(spec.max_seconds, stop.set)
            timer.daemon = True
            timer.start()
        _join(threads, workers, progress)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        barrier.abort()
        _join(threads, workers, None)
    finally:
        if timer is not None:
            timer.cancel()
    ended_ns = perf_counter_ns()
    cpu, waited = meter.read()
    if failures and not interrupted:
        raise failures[0]
    duration = (ended_ns - started_ns[0]) / 1e9 if started_ns[0] else 0.0
    return outcome(spec, workers, duration, cpu, waited, interrupted=interrupted, open_loop=open_loop)


def outcome(
    spec: PhaseSpec,
    workers: Sequence[Tally],
    duration: float,
    cpu: float | None,
    waited: PoolWait | None,
    *,
    interrupted: bool,
    open_loop: bool,
) -> Outcome:
    """What the workers of one phase recorded, added up (threads, or coroutines under ``--async``)."""
    phase = Phase(spec.phase)
    for worker in workers:
        phase.add_recorder(worker.recorder)
    if waited is not None:
        phase.pool_waits.append(waited)
    warnings = sorted({w.aborted for w in workers if w.aborted})
    stats = phase.stats(
        duration_s=duration,
        complete=not interrupted and not warnings,
        target_rate=spec.target_rate if open_loop else None,
        cpu_s=cpu,
        warnings=warnings,
    )
    if spec.processes == 1:
        warning = saturation_warning(stats.client_cpu_pct, 1, 1)
        if warning:
            stats = msgspec.structs.replace(stats, warnings=[*stats.warnings, warning])
    return Outcome(stats=stats, interrupted=interrupted)


def _join(threads: list[threading.Thread], workers: list[Worker], progress: Callable[[int], None] | None) -> None:
    """Wait for every thread, waking to report progress (and to let Ctrl-C in)."""
    for thread in threads:
        while thread.is_alive():
            thread.join(0.1)
            if progress is not None:
                progress(sum(w.done for w in workers))
    if progress is not None:
        progress(sum(w.done for w in workers))
