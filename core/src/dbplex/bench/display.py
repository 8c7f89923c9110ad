"""What ``dbplex bench`` shows in the terminal: live progress, then summary tables (rich)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dbplex.bench.compare import Comparison
from dbplex.bench.results import BenchResult, PhaseStats, PoolWait
from dbplex.bench.summary import summarize


def duration(us: float) -> str:
    """Microseconds for people: ``850 µs``, ``1.23 ms``, ``2.5 s``."""
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1_000_000:
        return f"{us / 1000:.3g} ms"
    return f"{us / 1_000_000:.3g} s"


def pool_wait(wait: PoolWait | None) -> str:
    """Mean and longest wait per checkout, ``1.2 µs / 310 µs``; ``≤`` marks a longest that may be an
    earlier phase's (see :class:`~dbplex.bench.results.PoolWait`)."""
    if wait is None:
        return ""
    mean = f"{wait.mean_us:.1f} µs" if wait.mean_us < 10 else duration(wait.mean_us)
    return f"{mean} / {'≤ ' if wait.max_bound else ''}{duration(wait.max_us)}"


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ops/s" if speed else "", style="cyan")


class _Done(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f"/{task.total:,.0f}" if task.total is not None else ""
        return Text(f"{task.completed:,.0f}{total}")


class RichDisplay:
    """Live progress bars on a terminal; plain lines (or nothing) elsewhere."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _Done(),
            _Rate(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def phase(self, title: str, total: int | None) -> Callable[[int], None]:
        task = self._progress.add_task(title, total=total)
        self._tasks[title] = task

        def update(done: int) -> None:
            self._progress.update(task, completed=done)

        return update

    def phase_done(self, title: str, stats: PhaseStats) -> None:
        """Replace the phase's bar by one line that stays above the live display."""
        task = self._tasks.pop(title, None)
        if task is not None:
            self._progress.remove_task(task)
        line = f"{title}: {stats.ops:,} ops in {stats.duration_s:.1f} s, {stats.throughput:,.0f} ops/s"
        if stats.latency is not None and stats.latency.summary.count:
            line += f", p50 {duration(stats.latency.summary.p50_us)}, p99 {duration(stats.latency.summary.p99_us)}"
        if stats.errors:
            line += f", [red]{stats.errors:,} errors[/]"
        if not stats.complete:
            line += " [red](incomplete)[/]"
        self._progress.console.print(line, highlight=False)

    def note(self, message: str) -> None:
        self._progress.console.print(message, style="yellow", markup=False)


def summary_table(result: BenchResult, console: Console) -> None:
    """One row per target: throughput (median round), latency percentiles, errors, pool wait (mean / max)."""
    table = Table(title=f"{result.workload.name}: run phase", title_justify="left")
    for column in (
        "source",
        "target",
        "threads",
        "pool",
        "ops/s",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max",
        "errors",
        "pool wait",
    ):
        table.add_column(column, justify="left" if column in ("source", "target") else "right")
    for s in summarize(result):
        table.add_row(
            s.source,
            s.target if s.target == "raw" else "dbplex",
            str(s.threads),
            str(s.pool_size),
            f"{s.throughput:,.0f}",
            duration(s.latency.p50_us),
            duration(s.latency.p95_us),
            duration(s.latency.p99_us),
            duration(s.latency.p999_us),
            duration(s.latency.max_us),
            f"[red]{s.errors}[/]" if s.errors else "0",
            pool_wait(s.pool_wait),
        )
    console.print(table)
    for o in result.overheads:
        rounds = ", ".join(f"{x:+.1f}" for x in o.round_overheads_pct)
        line = (
            f"{o.source} ({o.backend}) threads={o.threads}: dbplex {o.dbplex_ops_s:,.0f} ops/s, raw driver "
            f"{o.raw_ops_s:,.0f} ops/s (median rounds); overhead [bold]{o.overhead_pct:+.1f}%[/] = the median "
            f"of raw/dbplex - 1 over back-to-back rounds ({rounds}; typically ±{o.noise_pct:.1f}%)"
        )
        if o.dbplex_cpu_us_per_op is not None and o.raw_cpu_us_per_op is not None:
            line += f"; client CPU per op {o.dbplex_cpu_us_per_op:.0f} µs against {o.raw_cpu_us_per_op:.0f} µs"
        console.print(line, highlight=False)
    for warning in result.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False)
    if not result.complete:
        console.print(f"INCOMPLETE: {result.incomplete_reason}", style="bold red", markup=False)


def sweep_table(result: BenchResult, console: Console) -> None:
    """Per source: throughput and p99 for each thread count and pool size, the knees and the recommendation."""
    if result.sweep is None:
        return
    sweep = result.sweep
    for verdict in sweep.sources:
        table = Table(title=f"{verdict.source} ({verdict.backend}): ops/s and p99 by pool size", title_justify="left")
        table.add_column("threads", justify="right")
        for size in sweep.pool_sizes:
            table.add_column(f"pool {size}", justify="right")
        for threads in sweep.threads:
            cells = []
            for size in sweep.pool_sizes:
                point = next((p for p in verdict.points if p.threads == threads and p.pool_size == size), None)
                text = f"{point.throughput:,.0f}\n{duration(point.p99_us)}" if point else ""
                cells.append(f"[bold green]{text}[/]" if verdict.knees.get(threads) == size else text)
            table.add_row(str(threads), *cells)
        console.print(table)
        knees = ", ".join(
            f"{t} threads → {k}"
            + (
                f" (rounds differ by {verdict.tolerances[t]:.0%})"
                if verdict.tolerances.get(t, 0) > sweep.tolerance
                else ""
            )
            for t, k in verdict.knees.items()
        )
        console.print(
            f"knee (smallest pool within {sweep.tolerance:.0%} of the best throughput, or within the rounds' spread): {knees}\n"
            f"[bold]recommended pool size for {verdict.source}: {verdict.recommended_pool_size}[/] "
            f"(for reference, {verdict.rule} = {verdict.rule_of_thumb})"
        )


def comparison_table(comparison: Comparison, console: Console) -> None:
    table = Table("target", "metric", "old", "new", "worse by", "verdict")
    for c in comparison.changes:
        shown = (lambda v: f"{v:,.0f} ops/s") if c.metric == "throughput" else duration
        verdict = "[red]REGRESSION[/]" if c.regression else "ok"
        table.add_row(c.target, c.metric, shown(c.old), shown(c.new), f"{c.worse_pct:+.1f}%", verdict)
    console.print(table)
    for name in comparison.only_old:
        console.print(f"only in OLD: {name}", markup=False)
    for name in comparison.only_new:
        console.print(f"only in NEW: {name}", markup=False)
    count = len(comparison.regressions)
    console.print(
        f"{count} regression{'s' if count != 1 else ''} above {comparison.threshold_pct:g}%"
        if count
        else f"no regression above {comparison.threshold_pct:g}%"
    )
