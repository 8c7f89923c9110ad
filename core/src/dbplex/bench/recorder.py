"""What worker threads record while they run, and how it adds up into :class:`PhaseStats`.

Each worker owns a :class:`Recorder` (no locks on the hot path); when a phase ends the
recorders of every thread, and then of every worker process, are merged histogram by histogram.
"""

from __future__ import annotations

from collections.abc import Iterable

from dbplex.bench import histogram as hdr
from dbplex.bench import poolwait
from dbplex.bench.histogram import HdrHistogram
from dbplex.bench.results import OpStats, PhaseStats, PoolWait
from dbplex.secrets import scrub


class OpRecorder:
    """One operation type, in one worker."""

    __slots__ = ("count", "error_types", "errors", "first_errors", "latency", "service")

    def __init__(self, service: bool) -> None:
        self.count = 0
        self.errors = 0
        self.error_types: dict[str, int] = {}
        self.first_errors: dict[str, str] = {}
        self.latency = hdr.new()
        self.service = hdr.new() if service else None

    def error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors += 1
        self.error_types[name] = self.error_types.get(name, 0) + 1
        if name not in self.first_errors:
            self.first_errors[name] = scrub(str(exc))[:500]


class Recorder:
    """Everything one worker saw in one phase."""

    def __init__(self, *, open_loop: bool) -> None:
        self._open_loop = open_loop
        self.ops: dict[str, OpRecorder] = {}
        #: successful units of work: operations, or records when loading in batches.
        self.units = 0
        self.lag = hdr.new() if open_loop else None
        self.late = 0

    def op(self, name: str) -> OpRecorder:
        recorder = self.ops.get(name)
        if recorder is None:
            recorder = self.ops[name] = OpRecorder(service=self._open_loop)
        return recorder


class _Merged:
    """Histograms and counters of one operation type, summed over workers."""

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.error_types: dict[str, int] = {}
        self.first_errors: dict[str, str] = {}
        self.latency = hdr.new()
        self.service: HdrHistogram | None = None

    def add_counts(self, count: int, errors: int, error_types: dict[str, int], first_errors: dict[str, str]) -> None:
        self.count += count
        self.errors += errors
        for name, n in error_types.items():
            self.error_types[name] = self.error_types.get(name, 0) + n
        for name, message in first_errors.items():
            self.first_errors.setdefault(name, message)

    def add(self, attr: str, histogram: HdrHistogram | str | None) -> None:
        if histogram is None:
            return
        mine = getattr(self, attr)
        if mine is None:
            mine = hdr.new()
            setattr(self, attr, mine)
        if isinstance(histogram, str):
            mine.decode_and_add(histogram)
        else:
            mine.add(histogram)

    def stats(self, name: str) -> OpStats:
        return OpStats(
            op=name,
            count=self.count,
            errors=self.errors,
            error_types=self.error_types,
            first_errors=self.first_errors,
            latency=hdr.to_data(self.latency),
            service=hdr.to_data(self.service) if self.service is not None else None,
        )


class Phase:
    """The running sum of a phase's parts: worker recorders or whole :class:`PhaseStats`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ops: dict[str, _Merged] = {}
        self.units = 0
        self.lag: HdrHistogram | None = None
        self.late = 0
        self.warnings: list[str] = []
        #: the pool's wait counters over the phase, per part (dbplex side only).
        self.pool_waits: list[PoolWait] = []

    def _op(self, name: str) -> _Merged:
        return self.ops.setdefault(name, _Merged())

    def _add_lag(self, lag: HdrHistogram | str | None) -> None:
        if lag is None:
            return
        if self.lag is None:
            self.lag = hdr.new()
        if isinstance(lag, str):
            self.lag.decode_and_add(lag)
        else:
            self.lag.add(lag)

    def add_recorder(self, recorder: Recorder) -> None:
        for name, op in recorder.ops.items():
            merged = self._op(name)
            merged.add_counts(op.count, op.errors, op.error_types, op.first_errors)
            merged.add("latency", op.latency)
            merged.add("service", op.service)
        self.units += recorder.units
        self._add_lag(recorder.lag)
        self.late += recorder.late

    def add_stats(self, stats: PhaseStats) -> None:
        for name, op in stats.ops_by_type.items():
            merged = self._op(name)
            merged.add_counts(op.count, op.errors, op.error_types, op.first_errors)
            merged.add("latency", op.latency.encoded)
            merged.add("service", op.service.encoded if op.service else None)
        self.units += stats.ops
        self._add_lag(stats.lag.encoded if stats.lag else None)
        self.late += stats.late
        if stats.pool_wait is not None:
            self.pool_waits.append(stats.pool_wait)
        self.warnings.extend(w for w in stats.warnings if w not in self.warnings)

    def stats(
        self,
        *,
        duration_s: float,
        complete: bool,
        target_rate: float | None = None,
        cpu_s: float | None = None,
        warnings: Iterable[str] = (),
    ) -> PhaseStats:
        """The phase as stored; throughput is successful units over ``duration_s`` of wall time."""
        ops = {name: merged.stats(name) for name, merged in sorted(self.ops.items())}
        everything = hdr.merge(merged.latency for merged in self.ops.values())
        return PhaseStats(
            phase=self.name,
            complete=complete,
            ops=self.units,
            errors=sum(op.errors for op in ops.values()),
            duration_s=round(duration_s, 6),
            throughput=round(self.units / duration_s, 3) if duration_s > 0 else 0.0,
            ops_by_type=ops,
            latency=hdr.to_data(everything),
            lag=hdr.to_data(self.lag) if self.lag is not None else None,
            late=self.late,
            target_rate=target_rate,
            pool_wait=poolwait.merge(self.pool_waits),
            client_cpu_s=round(cpu_s, 3) if cpu_s is not None else None,
            client_cpu_pct=round(100 * cpu_s / duration_s, 1) if cpu_s is not None and duration_s > 0 else None,
            warnings=[*self.warnings, *(w for w in warnings if w not in self.warnings)],
        )


def merge_phases(parts: Iterable[PhaseStats], *, duration_s: float, concurrent: bool) -> PhaseStats:
    """Phases that ran side by side (worker processes: ``duration_s`` is their wall time) or one
    after another (rounds: ``duration_s`` is the sum of theirs)."""
    parts = list(parts)
    phase = Phase(parts[0].phase if parts else "run")
    for part in parts:
        phase.add_stats(part)
    cpu = [p.client_cpu_s for p in parts]
    rates = [p.target_rate for p in parts if p.target_rate is not None]
    return phase.stats(
        duration_s=duration_s,
        complete=all(p.complete for p in parts),
        target_rate=(sum(rates) if concurrent else rates[0]) if rates else None,
        cpu_s=sum(c for c in cpu if c is not None) if all(c is not None for c in cpu) and cpu else None,
    )
