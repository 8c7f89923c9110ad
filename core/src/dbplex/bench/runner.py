"""``dbplex bench run``: load, warm up and run a workload on each source, through dbplex and its raw driver.

Order of work: check every source (and its baseline) before anything is written, so an
unreachable one stops the run before load; load each source once through dbplex; then, round
after round, run each source's targets in alternating order (dbplex then raw, raw then dbplex),
so that drift on a shared machine hits both sides alike. Both targets use the same seeds, so they
send the same operations on the same keys; the raw side reads what dbplex loaded, in the
backend's own layout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

import msgspec

from dbplex.bench.client import dbplex_label
from dbplex.bench.engine import Outcome, PhaseSpec, run_phase
from dbplex.bench.environment import collect, load_average
from dbplex.bench.overhead import overheads
from dbplex.bench.processes import Task, run_phases
from dbplex.bench.results import BenchResult, PhaseStats, Run, Settings
from dbplex.bench.stream import insert_counter
from dbplex.bench.targets import baseline, open_target, pooled
from dbplex.bench.workload import Resolved
from dbplex.config import Config
from dbplex.errors import ConfigError, SourceUnavailable
from dbplex.health import Status
from dbplex.hub import Hub
from dbplex.hub import open as open_hub
from dbplex.secrets import scrub

#: "run until maxexecutiontime" when operationcount is 0.
UNLIMITED = sys.maxsize


class Display(Protocol):
    """Where the runner reports progress (the CLI's rich display, or nothing)."""

    def phase(self, title: str, total: int | None) -> Callable[[int], None]:
        """Start showing a phase; the callback receives the operations done so far."""
        ...

    def phase_done(self, title: str, stats: PhaseStats) -> None: ...

    def note(self, message: str) -> None: ...


class Silent:
    """A display that shows nothing."""

    def phase(self, title: str, total: int | None) -> Callable[[int], None]:
        return lambda done: None

    def phase_done(self, title: str, stats: PhaseStats) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Runner:
    """Runs the targets of every source for one (threads, pool size) point at a time."""

    def __init__(
        self,
        config: Config,
        resolved: Resolved,
        sources: list[str],
        *,
        display: Display | None = None,
        processes: int = 1,
        target_rate: float | None = None,
        rounds: int = 1,
        with_baseline: bool = True,
        max_seconds: float | None = None,
        asynchronous: bool = False,
    ) -> None:
        if asynchronous and processes > 1:
            raise ConfigError("--async runs coroutines on one event loop in one process: leave out --processes")
        if asynchronous and target_rate is not None:
            raise ConfigError("--async runs closed loop only: leave out --target (and the workload's target)")
        unknown = [s for s in sources if s not in config.sources]
        if unknown:
            known = ", ".join(sorted(config.sources)) or "none configured"
            raise ConfigError(f"unknown source {', '.join(map(repr, unknown))} (configured: {known})")
        if not sources:
            raise ConfigError("no sources to benchmark: configure one in dbplex.toml or pass --sources")
        self.config = config
        self.resolved = resolved
        self.workload = resolved.workload
        self.sources = sources
        self.display: Display = display or Silent()
        self.processes = processes
        self.target_rate = target_rate
        self.rounds = rounds
        self.with_baseline = with_baseline
        self.max_seconds = max_seconds
        #: ``--async``: each "thread" is a coroutine on one event loop, through dbplex.open_async.
        self.asynchronous = asynchronous
        self.backends: dict[str, str] = {}
        #: what runs each target's requests, by (source, target).
        self.labels: dict[tuple[str, str], str] = {}
        self.server_versions: dict[str, str | None] = {}
        #: sources whose plugin has a raw baseline.
        self.baselines: set[str] = set()
        self.warnings: list[str] = []
        #: why the work stopped early, if it did.
        self.incomplete: str | None = None
        #: load stats of each source, until its next dbplex run carries them.
        self._loads: dict[str, PhaseStats] = {}
        self.load_before = load_average()
        self.started_at = now()

    # -- before anything is written ------------------------------------------------------------

    def check(self) -> None:
        """Stop here, before load, if a source or its baseline cannot be reached."""
        with open_hub(pooled(self.config, self.sources, 1)) as hub:
            report = hub.health(self.sources)
            down = [h for h in report.sources if h.status is Status.DOWN]
            if down:
                reasons = "; ".join(
                    f"source {h.source!r} ({h.backend}) is unreachable: {(h.error or '').removeprefix(f'source {h.source!r}: ')}"
                    for h in down
                )
                raise SourceUnavailable(f"{reasons}. Nothing was loaded or run: start it or fix its url, then retry")
            for check in report.sources:
                self.server_versions[check.source] = check.server_version
            for name in self.sources:
                backend = hub.backend(name)
                self.backends[name] = backend.name
                self.labels[(name, "dbplex")] = dbplex_label(backend)
                if not self.with_baseline:
                    continue
                if self.asynchronous:
                    self.labels[(name, "dbplex")] += " (asyncio)"
                try:
                    label = self._baseline_label(hub, name)
                except Exception as exc:
                    raise SourceUnavailable(
                        f"source {name!r}: its raw-driver baseline cannot start: {scrub(str(exc))}. Nothing was loaded or run"
                    ) from None
                if label is None:
                    mode = "async " if self.asynchronous else ""
                    self.warn(
                        f"source {name!r}: the {self.backends[name]!r} plugin provides no raw {mode}driver baseline"
                    )
                    continue
                self.labels[(name, "raw")] = label
                self.baselines.add(name)
            self.environment = collect(hub, self.sources, self.server_versions, self.load_before)

    def _baseline_label(self, hub: Hub, name: str) -> str | None:
        """The label of ``name``'s raw baseline (the async one under ``--async``), after opening and
        closing it once; None when its plugin has none."""
        if self.asynchronous:
            from dbplex.bench import aio_engine

            return aio_engine.run_loop(aio_engine.baseline_label(self.config, name))
        raw = baseline(hub, name, 1)
        if raw is None:
            return None
        raw.close()
        return raw.label

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.display.note(f"warning: {message}")

    # -- phases ----------------------------------------------------------------------------------

    def load(self, threads: int, pool_size: int) -> None:
        """Load every source through dbplex, ``threads`` loaders at a time.

        Each source's load stats go with its next dbplex run (see :meth:`point`).
        """
        for name in self.sources:
            if self.incomplete:
                break
            title = f"{name} load"
            spec = PhaseSpec(phase="load", ops=self.workload.insertcount, threads=threads)
            if self.asynchronous:
                self._loads[name] = self._async_phases(name, "dbplex", pool_size, [spec], title)["load"]
                continue
            with open_target(self.config, name, "dbplex", pool_size) as target:
                outcome = run_phase(
                    spec,
                    self.workload,
                    target.make_client,
                    pool_wait=target.pool_wait,
                    progress=self.display.phase(title, spec.ops),
                )
            self._loads[name] = self._finished(title, outcome)

    def point(self, threads: int, pool_size: int, round_numbers: range | None = None) -> list[Run]:
        """Every round (``round_numbers``, default all) of every source's targets at ``threads`` and ``pool_size``.

        Odd rounds run dbplex first, even rounds the raw driver first.
        """
        runs: list[Run] = []
        for round_no in round_numbers or range(1, self.rounds + 1):
            for name in self.sources:
                kinds = ["dbplex", "raw"] if name in self.baselines else ["dbplex"]
                if round_no % 2 == 0:
                    kinds.reverse()
                for kind in kinds:
                    if self.incomplete:
                        return runs
                    run = self._target(name, kind, round_no, threads, pool_size)
                    loaded = self._loads.pop(name, None) if kind == "dbplex" else None
                    if loaded is not None:
                        run = msgspec.structs.replace(run, phases={"load": loaded, **run.phases})
                    runs.append(run)
        return runs

    def _specs(self, threads: int) -> list[PhaseSpec]:
        w = self.workload
        specs = []
        if w.warmupoperationcount:
            specs.append(
                PhaseSpec(phase="warmup", ops=w.warmupoperationcount, threads=threads, target_rate=self.target_rate)
            )
        specs.append(
            PhaseSpec(
                phase="run",
                ops=w.operationcount or UNLIMITED,
                threads=threads,
                target_rate=self.target_rate,
                max_seconds=self.max_seconds,
            )
        )
        return specs

    def _target(self, name: str, kind: str, round_no: int, threads: int, pool_size: int) -> Run:
        specs = self._specs(threads)
        prefix = f"{name}/{kind} t={threads} pool={pool_size}" + (f" round {round_no}" if self.rounds > 1 else "")
        phases: dict[str, PhaseStats] = {}
        if self.asynchronous:
            phases = self._async_phases(name, kind, pool_size, specs, prefix)
        elif self.processes > 1:
            task = Task(
                config=msgspec.to_builtins(self.config),
                source=name,
                target=kind,
                pool_size=pool_size,
                workload=self.workload,
                phases=specs,
            )
            outcomes = run_phases(task, self.processes, lambda phase: self.display.phase(f"{prefix} {phase}", None))
            for spec, outcome in zip(specs, outcomes, strict=False):
                phases[spec.phase] = self._finished(f"{prefix} {spec.phase}", outcome)
        else:
            with open_target(self.config, name, kind, pool_size) as target:
                counter = insert_counter(self.workload)
                for spec in specs:
                    total = spec.ops if spec.ops != UNLIMITED else None
                    outcome = run_phase(
                        spec,
                        self.workload,
                        target.make_client,
                        pool_wait=target.pool_wait,
                        counter=counter,
                        progress=self.display.phase(f"{prefix} {spec.phase}", total),
                    )
                    phases[spec.phase] = self._finished(f"{prefix} {spec.phase}", outcome)
                    if self.incomplete:
                        break
        if "warmup" in phases:  # discarded: keep how much ran, not what it measured
            phases["warmup"] = msgspec.structs.replace(phases["warmup"], ops_by_type={}, latency=None, lag=None)
        return Run(
            source=name,
            backend=self.backends[name],
            target="dbplex" if kind == "dbplex" else "raw",
            label=self.labels.get((name, kind), kind),
            round=round_no,
            threads=threads,
            pool_size=pool_size,
            processes=self.processes,
            phases=phases,
        )

    def _async_phases(
        self, name: str, kind: str, pool_size: int, specs: list[PhaseSpec], prefix: str
    ) -> dict[str, PhaseStats]:
        """Run ``specs`` on coroutines of one event loop (``--async``), the target opened on it."""
        from dbplex.bench import aio_engine

        async def main() -> dict[str, PhaseStats]:
            phases: dict[str, PhaseStats] = {}
            async with aio_engine.open_target(self.config, name, kind, pool_size) as target:
                counter = insert_counter(self.workload)
                for spec in specs:
                    title = prefix if spec.phase == "load" else f"{prefix} {spec.phase}"
                    total = spec.ops if spec.ops != UNLIMITED else None
                    outcome = await aio_engine.run_phase(
                        spec,
                        self.workload,
                        target.client,
                        pool_wait=target.pool_wait,
                        counter=counter,
                        progress=self.display.phase(title, total),
                    )
                    phases[spec.phase] = self._finished(title, outcome)
                    if self.incomplete:
                        break
            return phases

        return aio_engine.run_loop(main())

    def _finished(self, title: str, outcome: Outcome) -> PhaseStats:
        self.display.phase_done(title, outcome.stats)
        for warning in outcome.stats.warnings:
            self.warn(f"{title}: {warning}")
        if outcome.interrupted:
            self.incomplete = f"interrupted (Ctrl-C) during {title}"
        elif not outcome.stats.complete:
            self.incomplete = f"stopped early during {title}"
        return outcome.stats

    # -- the document ------------------------------------------------------------------------------

    def settings(self, threads: list[int], pool_sizes: list[int], load: bool, rounds: int | None = None) -> Settings:
        return Settings(
            sources=self.sources,
            threads=threads,
            pool_sizes=pool_sizes,
            processes=self.processes,
            target_rate=self.target_rate,
            rounds=rounds or self.rounds,
            baseline=self.with_baseline,
            load=load,
            max_execution_s=self.max_seconds,
            asynchronous=self.asynchronous,
        )

    def result(self, kind: str, settings: Settings, runs: list[Run], **extra: object) -> BenchResult:
        environment = msgspec.structs.replace(self.environment, load_after=load_average())
        return BenchResult(
            kind="sweep" if kind == "sweep" else "run",
            complete=self.incomplete is None,
            incomplete_reason=self.incomplete,
            started_at=self.started_at,
            finished_at=now(),
            command=[scrub(arg) for arg in sys.argv],
            environment=environment,
            workload=self.resolved,
            settings=settings,
            runs=runs,
            overheads=overheads(runs),
            warnings=self.warnings,
            **extra,  # type: ignore[arg-type]
        )


def run(
    config: Config,
    resolved: Resolved,
    sources: list[str],
    *,
    threads: int,
    pool_size: int,
    load: bool = True,
    display: Display | None = None,
    processes: int = 1,
    target_rate: float | None = None,
    rounds: int = 1,
    with_baseline: bool = True,
    max_seconds: float | None = None,
    asynchronous: bool = False,
) -> BenchResult:
    """The whole ``bench run``; an interruption returns what was measured, marked incomplete."""
    runner = Runner(
        config,
        resolved,
        sources,
        display=display,
        processes=processes,
        target_rate=target_rate,
        rounds=rounds,
        with_baseline=with_baseline,
        max_seconds=max_seconds,
        asynchronous=asynchronous,
    )
    runner.check()
    runs: list[Run] = []
    try:
        if load:
            runner.load(threads, pool_size)
        runs = runner.point(threads, pool_size)
    except KeyboardInterrupt:
        runner.incomplete = runner.incomplete or "interrupted (Ctrl-C) between phases"
    return runner.result("run", runner.settings([threads], [pool_size], load), runs)
