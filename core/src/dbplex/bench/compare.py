"""``dbplex bench compare OLD NEW``: did anything get slower than a threshold allows?

Targets are matched by source, target (dbplex or raw), threads and pool size. Throughput is the
median round; latencies come from the merged histograms. A change counts as a regression when it
is worse than the threshold: lower throughput, or higher latency.
"""

from __future__ import annotations

import msgspec

from dbplex.bench.results import BenchResult
from dbplex.bench.summary import TargetSummary, summarize
from dbplex.errors import ConfigError

METRICS = ("throughput", "p50", "p90", "p95", "p99", "p999", "max")


class Change(msgspec.Struct, kw_only=True, frozen=True):
    target: str
    metric: str
    old: float
    new: float
    #: how much worse NEW is, in percent (negative: better).
    worse_pct: float
    regression: bool


class Comparison(msgspec.Struct, kw_only=True, frozen=True):
    changes: list[Change]
    only_old: list[str]
    only_new: list[str]
    threshold_pct: float

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]


def parse_threshold(text: str) -> float:
    """``5%`` or ``5`` → 5.0 (percent)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise ConfigError(f"--fail-above {text!r}: expected a percentage such as 5%") from None
    if value < 0:
        raise ConfigError(f"--fail-above {text!r}: must not be negative")
    return value


def _name(s: TargetSummary) -> str:
    return f"{s.source}/{s.target} threads={s.threads} pool={s.pool_size}"


def _value(s: TargetSummary, metric: str) -> float:
    if metric == "throughput":
        return s.throughput
    return float(getattr(s.latency, f"{metric}_us"))


def compare(
    old: BenchResult,
    new: BenchResult,
    threshold_pct: float,
    metrics: tuple[str, ...] = ("throughput", "p99"),
    allow_workload_change: bool = False,
) -> Comparison:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    if old.workload.hash != new.workload.hash and not allow_workload_change:
        raise ConfigError(
            f"the results ran different workloads ({old.workload.name} {old.workload.hash[:12]} vs "
            f"{new.workload.name} {new.workload.hash[:12]}); pass --allow-workload-change to compare anyway"
        )
    before = {s.key: s for s in summarize(old)}
    after = {s.key: s for s in summarize(new)}
    changes = []
    for key in sorted(before.keys() & after.keys()):
        for metric in metrics:
            was, now = _value(before[key], metric), _value(after[key], metric)
            if was == 0:
                continue
            worse = (was - now) / was * 100 if metric == "throughput" else (now - was) / was * 100
            changes.append(
                Change(
                    target=_name(after[key]),
                    metric=metric,
                    old=was,
                    new=now,
                    worse_pct=round(worse, 2),
                    regression=worse > threshold_pct,
                )
            )
    return Comparison(
        changes=changes,
        only_old=[_name(before[k]) for k in sorted(before.keys() - after.keys())],
        only_new=[_name(after[k]) for k in sorted(after.keys() - before.keys())],
        threshold_pct=threshold_pct,
    )
