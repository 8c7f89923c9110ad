"""``dbplex bench report RESULTS... --out DIR``: PNG plots and one HTML page that shows them with the tables.

Plots: throughput per target (median round, whiskers from the slowest to the fastest round),
the latency percentile distribution of each target (from the merged HdrHistograms, so the tail
is drawn, not guessed), and for sweeps throughput and p99 against pool size with the knee marked.
matplotlib (``dbplex[bench]``) is imported here only.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from dbplex.bench import histogram as hdr
from dbplex.bench.display import duration, pool_wait
from dbplex.bench.results import BenchResult, SweepSource
from dbplex.bench.summary import TargetSummary, summarize
from dbplex.errors import DbplexError

#: percentiles drawn on the latency plots; the x axis spreads the tail (log of 1 / (1 - p)).
PLOT_PERCENTILES = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)
COLORS = {"dbplex": "#1f77b4", "raw": "#ff7f0e"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the installation
        raise DbplexError("dbplex bench report needs matplotlib: pip install 'dbplex[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write(results: list[tuple[str, BenchResult]], out: Path) -> Path:
    """Write plots and ``index.html`` for ``(name, result)`` pairs into ``out``; returns the page."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for name, result in results:
        stem = Path(name).stem
        images = []
        summaries = summarize(result)
        if summaries:
            images.append(_throughput_plot(plt, summaries, out / f"{stem}-throughput.png", result.workload.name))
            images.append(_latency_plot(plt, result, out / f"{stem}-latency.png"))
        if result.sweep is not None:
            for verdict in result.sweep.sources:
                images.append(
                    _sweep_plot(plt, verdict, result.sweep.tolerance, out / f"{stem}-sweep-{verdict.source}.png")
                )
        sections.append(_section(name, result, summaries, images))
    page = out / "index.html"
    page.write_text(_PAGE.format(body="\n".join(sections)), encoding="utf-8")
    return page


def _label(s: TargetSummary) -> str:
    return f"{s.source} {s.target}\nt={s.threads} pool={s.pool_size}"


def _throughput_plot(plt: Any, summaries: list[TargetSummary], path: Path, title: str) -> str:
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(summaries) + 2), 4))
    labels = [_label(s) for s in summaries]
    values = [s.throughput for s in summaries]
    low = [max(0.0, s.throughput - min(s.round_throughputs)) for s in summaries]
    high = [max(0.0, max(s.round_throughputs) - s.throughput) for s in summaries]
    colors = [COLORS.get(s.target, "#777777") for s in summaries]
    ax.bar(range(len(values)), values, color=colors, yerr=[low, high], capsize=4)
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylabel("operations per second (median round)")
    ax.set_title(f"{title}: throughput (whiskers: slowest and fastest round)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _spread(p: float) -> float:
    return -math.log10(1 - p / 100) if p < 100 else 6.0


def _latency_plot(plt: Any, result: BenchResult, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    groups: dict[tuple[str, str, int, int], list[str]] = {}
    for run in result.runs:
        phase = run.phases.get("run")
        if phase is not None and phase.latency is not None:
            groups.setdefault((run.source, run.target, run.threads, run.pool_size), []).append(phase.latency.encoded)
    for (source, target, threads, size), encoded in sorted(groups.items()):
        merged = hdr.merge(encoded)
        if not merged.get_total_count():
            continue
        values = merged.get_percentile_to_value_dict(list(PLOT_PERCENTILES))
        xs = [_spread(p) for p in PLOT_PERCENTILES]
        ys = [values[p] / 1000 for p in PLOT_PERCENTILES]
        style = "-" if target == "dbplex" else "--"
        ax.plot(xs, ys, style, marker=".", label=f"{source} {target} t={threads} pool={size}")
    ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
    ax.set_xticks([_spread(p) for p in ticks], [f"{p:g}%" for p in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.set_title("latency by percentile (run phase, rounds merged by histogram)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _sweep_plot(plt: Any, verdict: SweepSource, tolerance: float, path: Path) -> str:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for threads in sorted({p.threads for p in verdict.points}):
        curve = sorted((p for p in verdict.points if p.threads == threads), key=lambda p: p.pool_size)
        sizes = [p.pool_size for p in curve]
        line = top.plot(
            sizes, [p.throughput for p in curve], marker="o", label=f"{threads} thread{'s' if threads != 1 else ''}"
        )[0]
        bottom.plot(sizes, [p.p99_us / 1000 for p in curve], marker="o", color=line.get_color())
        knee = verdict.knees.get(threads)
        at_knee = next((p for p in curve if p.pool_size == knee), None)
        if at_knee is not None:
            top.plot([knee], [at_knee.throughput], marker="*", markersize=16, color=line.get_color())
    top.axvline(
        verdict.recommended_pool_size,
        color="green",
        linestyle=":",
        label=f"recommended {verdict.recommended_pool_size}",
    )
    top.axvline(verdict.rule_of_thumb, color="grey", linestyle="--", label=f"{verdict.rule} = {verdict.rule_of_thumb}")
    top.set_xscale("log", base=2)
    sizes_measured = sorted({p.pool_size for p in verdict.points})
    bottom.set_xticks(sizes_measured, [str(size) for size in sizes_measured])
    top.set_ylabel("operations per second")
    top.set_title(
        f"{verdict.source} ({verdict.backend}): pool size sweep (★ knee: within {tolerance:.0%} of best or the noise)"
    )
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xlabel("pool size")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[object]]) -> str:
    """An HTML table; ``{name: version}`` cells read as ``name version, ...``."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> object:
    return ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value


def _section(name: str, result: BenchResult, summaries: list[TargetSummary], images: list[str]) -> str:
    env = result.environment
    parts = [f"<h2>{_e(Path(name).name)}</h2>"]
    if not result.complete:
        parts.append(f'<p class="bad">INCOMPLETE: {_e(result.incomplete_reason)}</p>')
    w = result.workload
    parts.append(
        f"<p>{_e(result.kind)} · workload <b>{_e(w.name)}</b> (hash {_e(w.hash[:12])}) · recordcount "
        f"{w.workload.recordcount:,} · operationcount {w.workload.operationcount:,} · {_e(result.started_at)} · "
        f"Python {_e(env.python)} on {_e(env.platform)}, {env.cpus_available}/{env.cpu_count} CPUs, load "
        f"{_e(env.load_before)} → {_e(env.load_after)}</p>"
    )
    parts.append(f"<p><code>{_e(' '.join(result.command))}</code></p>")
    servers: list[list[object]] = [
        [s.source, s.backend, s.server_version or "", f"{s.package} {s.plugin_version}", s.drivers] for s in env.servers
    ]
    parts.append(_table(["source", "backend", "server", "plugin", "drivers"], servers))
    rows: list[list[object]] = [
        [
            s.source,
            s.target,
            s.label,
            s.threads,
            s.pool_size,
            f"{s.throughput:,.0f}",
            duration(s.latency.p50_us),
            duration(s.latency.p95_us),
            duration(s.latency.p99_us),
            duration(s.latency.p999_us),
            duration(s.latency.max_us),
            s.errors,
            pool_wait(s.pool_wait),
        ]
        for s in summaries
    ]
    header = [
        "source",
        "target",
        "label",
        "threads",
        "pool",
        "ops/s",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max",
        "errors",
        "pool wait (mean / max)",
    ]
    parts.append(_table(header, rows))
    if result.overheads:
        overhead_rows: list[list[object]] = [
            [
                o.source,
                o.threads,
                f"{o.dbplex_ops_s:,.0f}",
                f"{o.raw_ops_s:,.0f}",
                f"{o.overhead_pct:+.2f}%",
                f"±{o.noise_pct:.1f}%",
                ", ".join(f"{x:+.1f}" for x in o.round_overheads_pct),
                f"{o.dbplex_cpu_us_per_op:.0f} / {o.raw_cpu_us_per_op:.0f}"
                if o.dbplex_cpu_us_per_op is not None and o.raw_cpu_us_per_op is not None
                else "",
            ]
            for o in result.overheads
        ]
        header = ["source", "threads", "dbplex ops/s", "raw ops/s", "overhead", "noise", "rounds (%)", "CPU µs/op"]
        parts.append("<h3>dbplex against the raw driver</h3>")
        parts.append(_table(header, overhead_rows))
    if result.sweep is not None:
        for verdict in result.sweep.sources:
            knees = ", ".join(f"{t} threads → {k}" for t, k in verdict.knees.items())
            parts.append(
                f"<p><b>{_e(verdict.source)}: recommended pool size {verdict.recommended_pool_size}</b> "
                f"(knees: {_e(knees)}; for reference {_e(verdict.rule)} = {verdict.rule_of_thumb})</p>"
            )
    parts.extend(f'<p class="warn">warning: {_e(w)}</p>' for w in result.warnings)
    parts.extend(f'<img src="{_e(image)}" alt="{_e(image)}">' for image in images)
    return "<section>" + "\n".join(parts) + "</section>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dbplex bench report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
img {{ display: block; max-width: 100%; margin: 1em 0; }}
.bad {{ color: #b00; font-weight: bold; }} .warn {{ color: #a60; }}
code {{ font-size: 0.85em; }}
</style></head>
<body><h1>dbplex bench report</h1>
{body}
</body></html>
"""
