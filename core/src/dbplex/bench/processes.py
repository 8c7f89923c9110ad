"""Worker processes, for when one Python process cannot drive the database hard enough.

Each process opens its own hub (and pool of ``pool_size``) or raw baseline, runs its share of
the operations on its own threads and sends back its :class:`PhaseStats`; the parent merges
them histogram by histogram. Processes start each phase together on a barrier. Ctrl-C is the
parent's to handle: it tells the children to stop, and they send what they recorded.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from dbplex.bench.engine import Outcome, PhaseSpec, run_phase, saturation_warning
from dbplex.bench.environment import cpus_available
from dbplex.bench.recorder import merge_phases
from dbplex.bench.results import PhaseStats
from dbplex.bench.stream import insert_counter
from dbplex.bench.workload import Workload
from dbplex.errors import DbplexError

#: seconds a child may take to start (import, connect) before the parent gives up on it.
START_TIMEOUT = 120.0


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """What one child runs."""

    config: dict[str, Any]
    source: str
    target: str
    pool_size: int
    workload: Workload
    phases: list[PhaseSpec]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What a child sends back after each phase (or instead, an error)."""

    process: int
    stats: PhaseStats | None = None
    interrupted: bool = False
    error: str | None = None


def _child(task_bytes: bytes, barrier: Any, stop: Any, progress: Any, reports: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    task = msgspec.msgpack.decode(task_bytes, type=Task)
    process = task.phases[0].process
    try:
        from dbplex.bench.targets import open_target

        with open_target(task.config, task.source, task.target, task.pool_size) as target:
            counter = insert_counter(task.workload, process, task.phases[0].processes)
            for spec in task.phases:
                local_stop = threading.Event()

                def tick(done: int, local_stop: threading.Event = local_stop) -> None:
                    progress[process] = done
                    if stop.is_set():
                        local_stop.set()

                outcome = run_phase(
                    spec,
                    task.workload,
                    target.make_client,
                    pool_wait=target.pool_wait,
                    counter=counter,
                    progress=tick,
                    start=barrier.wait,
                    stop=local_stop,
                )
                reports.put(
                    msgspec.msgpack.encode(Report(process=process, stats=outcome.stats, interrupted=stop.is_set()))
                )
                progress[process] = 0
                if stop.is_set():
                    return
    except BaseException as exc:
        message = str(exc) if isinstance(exc, DbplexError) else f"{type(exc).__name__}: {exc}"
        reports.put(msgspec.msgpack.encode(Report(process=process, error=message)))
        barrier.abort()


def run_phases(
    task: Task,
    processes: int,
    progress: Callable[[str], Callable[[int], None]],
) -> list[Outcome]:
    """Run ``task.phases`` (specs for the whole client; each process takes its share) in ``processes`` children.

    ``progress(phase)`` gives the callback that receives the operations done in that phase.
    Returns one merged outcome per phase that ran; stops after an interrupted one.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    stop = context.Event()
    counts = context.Array("q", processes, lock=False)
    reports = context.Queue()
    children = []
    for p in range(processes):
        shares = [
            msgspec.structs.replace(
                spec,
                ops=_share(spec.ops, processes, p),
                target_rate=spec.target_rate / processes if spec.target_rate else None,
                process=p,
                processes=processes,
            )
            for spec in task.phases
        ]
        child_task = msgspec.structs.replace(task, phases=shares)
        child = context.Process(
            target=_child,
            args=(msgspec.msgpack.encode(child_task), barrier, stop, counts, reports),
            name=f"dbplex-bench-{p}",
            daemon=True,
        )
        child.start()
        children.append(child)
    outcomes = []
    try:
        for spec in task.phases:
            outcome = _phase(spec.phase, processes, barrier, stop, counts, reports, progress(spec.phase))
            outcomes.append(outcome)
            if outcome.interrupted:
                break
    finally:
        stop.set()
        for child in children:
            child.join(timeout=30)
            if child.is_alive():  # pragma: no cover - a child that hangs
                child.terminate()
    return outcomes


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _phase(
    name: str,
    processes: int,
    barrier: Any,
    stop: Any,
    counts: Any,
    reports: Any,
    progress: Callable[[int], None],
) -> Outcome:
    interrupted = False
    try:
        try:
            barrier.wait(timeout=START_TIMEOUT)
        except threading.BrokenBarrierError:
            _raise_child_error(reports, name)
        parts: list[PhaseStats] = []
        while len(parts) < processes:
            try:
                raw = reports.get(timeout=0.1)
            except queue.Empty:
                progress(sum(counts))
                continue
            report = msgspec.msgpack.decode(raw, type=Report)
            if report.error is not None:
                stop.set()
                raise DbplexError(f"worker process {report.process} failed during {name}: {report.error}")
            assert report.stats is not None
            parts.append(report.stats)
            interrupted = interrupted or report.interrupted
    except KeyboardInterrupt:
        stop.set()
        interrupted = True
        parts = [p for p in (_drain(reports, processes - len(parts))) if p is not None] + parts
    progress(sum(p.ops for p in parts))
    duration = max((p.duration_s for p in parts), default=0.0)
    merged = merge_phases(parts, duration_s=duration, concurrent=True)
    warning = saturation_warning(merged.client_cpu_pct, processes, cpus_available())
    if warning:
        merged = msgspec.structs.replace(merged, warnings=[*merged.warnings, warning])
    if interrupted:
        merged = msgspec.structs.replace(merged, complete=False)
    return Outcome(stats=merged, interrupted=interrupted)


def _drain(reports: Any, expected: int) -> list[PhaseStats | None]:
    """Collect the partial results children send after being told to stop."""
    found: list[PhaseStats | None] = []
    for _ in range(expected):
        try:
            report = msgspec.msgpack.decode(reports.get(timeout=30), type=Report)
        except queue.Empty:
            break
        found.append(report.stats)
    return found


def _raise_child_error(reports: Any, phase: str) -> None:
    try:
        report = msgspec.msgpack.decode(reports.get(timeout=5), type=Report)
    except queue.Empty:
        raise DbplexError(f"worker processes did not start the {phase} phase within {START_TIMEOUT:g}s") from None
    raise DbplexError(f"worker process {report.process} failed before {phase}: {report.error}")
