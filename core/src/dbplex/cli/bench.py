"""``dbplex bench``: YCSB workloads on configured sources, dbplex against the raw drivers, pool sizing.

Everything heavy (the engine, hdrhistogram, matplotlib) is imported inside the commands, so that
``dbplex --help`` and ``dbplex bench --help`` stay fast and need no ``dbplex[bench]``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from dbplex.cli.console import make_console
from dbplex.cli.errors import fail, reported
from dbplex.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_POOL_SIZES = "1,2,4,8,16,32"
DEFAULT_SWEEP_THREADS = "1,8,32"


def _default_out(kind: str) -> Path:
    return Path("bench-results") / f"{kind}-{datetime.now().strftime('%Y%m%dT%H%M%S')}.json"


def _integers(option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected comma-separated whole numbers such as 1,2,4") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} {text!r}: expected comma-separated numbers of at least 1")
    return values


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"-p {pair!r}: expected name=value, e.g. -p recordcount=1000")
        found[name.strip()] = value.strip()
    return found


def _workload_options(command: F) -> F:
    options = [
        click.option(
            "--sources",
            metavar="NAMES",
            help="Comma-separated sources from the configuration (default: every source).",
        ),
        click.option(
            "--workload",
            "-w",
            default="a",
            show_default=True,
            metavar="NAME|FILE",
            help="A YCSB core workload: a name a-f, or a properties file.",
        ),
        click.option(
            "-p",
            "properties",
            multiple=True,
            metavar="NAME=VALUE",
            help="Override a workload property (repeatable), as in YCSB.",
        ),
        click.option(
            "--processes",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Worker processes, each with its own threads and pool.",
        ),
        click.option(
            "--target",
            "target_rate",
            type=click.FloatRange(min=0, min_open=True),
            help="Open loop: total operations per second to aim at (latency counts from the intended start).",
        ),
        click.option(
            "--rounds",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Repeat, alternating the order of dbplex and raw; medians are reported.",
        ),
        click.option(
            "--load/--no-load",
            "load",
            default=True,
            show_default=True,
            help="Load the records first (skip when they are already there).",
        ),
        click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            help="JSON result file (default: bench-results/<kind>-<time>.json).",
        ),
        click.option(
            "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write a CSV summary here."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class _Common:
    """What every workload-running command resolves from :func:`_workload_options`."""

    def __init__(
        self,
        ctx: click.Context,
        *,
        sources: str | None,
        workload: str,
        properties: tuple[str, ...],
        processes: int,
        target_rate: float | None,
        rounds: int,
        load: bool,
        out: Path | None,
        csv_path: Path | None,
    ) -> None:
        from dbplex import config as config_mod
        from dbplex.bench import workload as workload_mod

        self.config = config_mod.load(ctx.obj.config_path)
        spec_properties = ctx.meta.get(SPEC_PROPERTIES, ())
        self.resolved = workload_mod.load(workload, _overrides((*spec_properties, *properties)))
        self.sources = [s.strip() for s in sources.split(",") if s.strip()] if sources else list(self.config.sources)
        client = self.resolved.client
        self.processes = processes
        #: --target, else the workload's own target; None: closed loop.
        self.target_rate = target_rate or client.target or None
        self.max_seconds = client.maxexecutiontime or None
        self.rounds = rounds
        self.load = load
        self.out = out
        self.csv_path = csv_path


def _finish(result: Any, common: _Common, kind: str) -> None:
    """Write the result (complete or not), and exit 130 after Ctrl-C, 1 if it stopped early."""
    from dbplex.bench import results, summary

    written = results.save(result, common.out or _default_out(kind))
    click.echo(f"result: {written}", err=True)
    if common.csv_path is not None:
        click.echo(f"csv:    {summary.write_csv(result, common.csv_path)}", err=True)
    if not result.complete:
        sys.exit(130 if (result.incomplete_reason or "").startswith("interrupted") else 1)


@click.group()
def bench() -> None:
    """Benchmark sources with YCSB workloads: dbplex against the raw drivers, pool sizes, reports.

    \b
    Examples:
      dbplex bench run --sources pg,mongo,redis --workload c -p recordcount=10000 --threads 8
      dbplex bench sweep --sources pg --workload c --pool-sizes 1,2,4,8,16,32 --threads 1,8,32
      dbplex bench report bench-results/*.json --out bench-report
      dbplex bench compare old.json new.json --fail-above 5%
    """


@bench.command()
@_workload_options
@click.option(
    "--threads", "-t", type=click.IntRange(min=1), help="Worker threads (default: the workload's threadcount, else 1)."
)
@click.option(
    "--pool-size",
    type=click.IntRange(min=1),
    help="Connections per pool, dbplex's and the raw driver's (default: --threads).",
)
@click.option(
    "--baseline/--no-baseline", default=True, show_default=True, help="Also run the raw driver on the same keys."
)
@click.option(
    "--async",
    "asynchronous",
    is_flag=True,
    help="Run --threads coroutines on one event loop (uvloop if installed) through dbplex.open_async, "
    "against the raw async drivers; closed loop, one process.",
)
@click.pass_context
def run(
    ctx: click.Context,
    /,
    threads: int | None,
    pool_size: int | None,
    baseline: bool,
    asynchronous: bool,
    **workload_options: Any,
) -> None:
    """Load, warm up and run a workload on each source, through dbplex and its raw driver."""
    with reported():
        from dbplex.bench import display, runner

        common = _Common(ctx, **workload_options)
        threads = threads or common.resolved.client.threadcount
        with display.RichDisplay() as shown:
            result = runner.run(
                common.config,
                common.resolved,
                common.sources,
                threads=threads,
                pool_size=pool_size or threads,
                load=common.load,
                display=shown,
                processes=common.processes,
                target_rate=common.target_rate,
                rounds=common.rounds,
                with_baseline=baseline,
                max_seconds=common.max_seconds,
                asynchronous=asynchronous,
            )
        display.summary_table(result, make_console())
        _finish(result, common, "run")


#: keys of a sweep spec file and the option each one sets.
SPEC_KEYS = {
    "sources": "sources",
    "workload": "workload",
    "properties": "-p",
    "processes": "processes",
    "target": "target_rate",
    "rounds": "rounds",
    "pool_sizes": "pool_sizes",
    "threads": "thread_counts",
    "tolerance": "tolerance",
    "server_cores": "server_cores",
    "spindles": "spindles",
    "baseline": "baseline",
}


SPEC_PROPERTIES = "dbplex.bench.spec_properties"


def _read_spec(ctx: click.Context, _param: click.Parameter, path: Path | None) -> None:
    """Make a sweep spec's values the defaults of the options, so that options given on the command line win."""
    if path is None:
        return
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"sweep spec {path}: cannot read it: {exc}")
    defaults: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in SPEC_KEYS:
            fail(f"sweep spec {path}: unknown key {key!r}; known keys: {', '.join(SPEC_KEYS)}")
        if key == "properties":  # merged under -p overrides rather than replaced by them
            if not isinstance(value, dict):
                fail(f"sweep spec {path}: 'properties' must be a table, e.g. [properties] recordcount = 1000")
            ctx.meta[SPEC_PROPERTIES] = tuple(f"{k}={v}" for k, v in value.items())
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        defaults[SPEC_KEYS[key]] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


@bench.command()
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_read_spec,
    help="A sweep spec (TOML) whose keys set the options below; options given here win.",
)
@_workload_options
@click.option(
    "--pool-sizes", default=DEFAULT_POOL_SIZES, show_default=True, metavar="N,N,...", help="Pool sizes to try."
)
@click.option(
    "--threads",
    "-t",
    "thread_counts",
    default=DEFAULT_SWEEP_THREADS,
    show_default=True,
    metavar="N,N,...",
    help="Thread counts to try.",
)
@click.option(
    "--tolerance",
    default="5%",
    show_default=True,
    help="The knee is the smallest pool within this of the best throughput.",
)
@click.option(
    "--server-cores",
    type=click.IntRange(min=1),
    help="Database server cores, for the 2 × cores + spindles reference (default: this machine's).",
)
@click.option(
    "--spindles",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Effective spindles of the server's storage, for the reference rule.",
)
@click.option(
    "--baseline/--no-baseline", default=False, show_default=True, help="Also run the raw driver at every point."
)
@click.pass_context
def sweep(
    ctx: click.Context,
    /,
    pool_sizes: str,
    thread_counts: str,
    tolerance: str,
    server_cores: int | None,
    spindles: int,
    baseline: bool,
    **workload_options: Any,
) -> None:
    """Throughput and p99 against pool size for each thread count; detect the knee, recommend a pool size."""
    with reported():
        from dbplex.bench import compare, display
        from dbplex.bench import sweep as sweep_mod

        common = _Common(ctx, **workload_options)
        with display.RichDisplay() as shown:
            result = sweep_mod.run(
                common.config,
                common.resolved,
                common.sources,
                pool_sizes=_integers("--pool-sizes", pool_sizes),
                threads=_integers("--threads", thread_counts),
                tolerance=compare.parse_threshold(tolerance) / 100,
                server_cores=server_cores or os.cpu_count() or 1,
                spindles=spindles,
                rounds=common.rounds,
                load=common.load,
                with_baseline=baseline,
                processes=common.processes,
                target_rate=common.target_rate,
                max_seconds=common.max_seconds,
                display=shown,
            )
        console = make_console()
        display.sweep_table(result, console)
        if baseline:
            display.summary_table(result, console)
        elif not result.complete:
            console.print(f"INCOMPLETE: {result.incomplete_reason}", style="bold red", markup=False)
        _finish(result, common, "sweep")


@bench.command()
@click.argument(
    "result_files", metavar="RESULTS...", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-report"),
    show_default=True,
    help="Directory for the plots and index.html.",
)
def report(result_files: tuple[str, ...], out: Path) -> None:
    """Write PNG plots and an HTML page for result files."""
    with reported():
        from dbplex.bench import report as report_mod
        from dbplex.bench import results

        loaded = [(path, results.load(path)) for path in result_files]
        page = report_mod.write(loaded, out)
    click.echo(f"report: {page}")


@bench.command(name="compare")
@click.argument("old", type=click.Path(exists=True, dir_okay=False))
@click.argument("new", type=click.Path(exists=True, dir_okay=False))
@click.option("--fail-above", default="5%", show_default=True, help="Exit 1 when a metric is worse than this.")
@click.option(
    "--metric",
    "metrics",
    default="throughput,p99",
    show_default=True,
    help="Metrics to compare: throughput, p50, p90, p95, p99, p999, max.",
)
@click.option("--allow-workload-change", is_flag=True, help="Compare results of different workloads anyway.")
def compare_command(old: str, new: str, fail_above: str, metrics: str, allow_workload_change: bool) -> None:
    """Compare two results; exit 1 if NEW regressed beyond --fail-above."""
    with reported():
        from dbplex.bench import compare, display, results

        comparison = compare.compare(
            results.load(old),
            results.load(new),
            compare.parse_threshold(fail_above),
            tuple(m.strip() for m in metrics.split(",") if m.strip()),
            allow_workload_change,
        )
    display.comparison_table(comparison, make_console())
    if not comparison.changes:
        fail("the two results have no target in common (source, target, threads, pool size)")
    sys.exit(1 if comparison.regressions else 0)
