"""Pool wait per phase from the pool's own counters, and pool wait of results written before that."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dbplex.bench import histogram as hdr
from dbplex.bench import poolwait, results
from dbplex.bench.display import pool_wait
from dbplex.bench.recorder import merge_phases
from dbplex.bench.results import OpStats, PoolWait
from dbplex.bench.summary import summarize
from dbplex.bench.sweep import points
from dbplex.pool import Timing

from .factories import make_result, phase_stats

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"


def test_a_phase_waited_what_the_counters_grew_by() -> None:
    before = {"pg": Timing(count=10, total_ms=5.0, max_ms=2.0)}
    after = {"pg": Timing(count=110, total_ms=5.2, max_ms=3.0)}
    wait = poolwait.between(before, after)
    assert wait == PoolWait(checkouts=100, total_us=200.0, mean_us=2.0, max_us=3000.0, max_bound=False)


def test_a_longest_wait_that_did_not_grow_is_only_an_upper_bound() -> None:
    before = {"pg": Timing(count=10, total_ms=5.0, max_ms=2.0)}
    after = {"pg": Timing(count=20, total_ms=5.01, max_ms=2.0)}
    wait = poolwait.between(before, after)
    assert wait is not None and wait.max_bound and wait.max_us == 2000.0
    assert pool_wait(wait) == "1.0 µs / ≤ 2 ms"


def test_replica_pools_add_up_and_one_opened_during_the_phase_counts_from_zero() -> None:
    before = {"pg": Timing(count=1, total_ms=0.001, max_ms=0.001)}
    after = {
        "pg": Timing(count=3, total_ms=0.003, max_ms=0.001),
        "pg/replica1": Timing(count=2, total_ms=0.5, max_ms=0.4),
    }
    wait = poolwait.between(before, after)
    assert wait is not None
    assert (wait.checkouts, wait.total_us, wait.max_us, wait.max_bound) == (4, 502.0, 400.0, False)


def test_worker_processes_add_checkouts_and_keep_the_longest_wait() -> None:
    one = msgspec.structs.replace(
        phase_stats(100, 50, 1.0), pool_wait=PoolWait(checkouts=50, total_us=100.0, mean_us=2.0, max_us=9.0)
    )
    two = msgspec.structs.replace(
        phase_stats(100, 150, 1.0), pool_wait=PoolWait(checkouts=150, total_us=900.0, mean_us=6.0, max_us=40.0)
    )
    merged = merge_phases([one, two], duration_s=1.0, concurrent=True)
    assert merged.pool_wait == PoolWait(checkouts=200, total_us=1000.0, mean_us=5.0, max_us=40.0)


def test_the_raw_side_has_no_pool_wait() -> None:
    result = make_result({("pg", "raw"): [(1000.0, 100)]})
    (summary,) = summarize(result)
    assert summary.pool_wait is None and pool_wait(summary.pool_wait) == ""


def test_older_results_per_operation_wait_histograms_still_read_as_pool_wait() -> None:
    histogram = hdr.new()
    for us in (1, 1, 1, 97):
        hdr.record(histogram, us)
    phase = phase_stats(100, 4, 1.0)
    read = msgspec.structs.replace(phase.ops_by_type["read"], wait=hdr.to_data(histogram))
    old = msgspec.structs.replace(phase, ops_by_type={"read": read})
    wait = poolwait.of_phases([old])
    assert wait is not None and (wait.checkouts, wait.mean_us, wait.max_us) == (4, 25.0, 97)


@pytest.mark.parametrize("name", ["overhead-c-t1.json", "sweep-pg.json"])
def test_recorded_results_keep_their_pool_wait(name: str) -> None:
    result = results.load(RESULTS / name)
    assert any(isinstance(op, OpStats) and op.wait for r in result.runs for op in r.phases["run"].ops_by_type.values())
    dbplex = [s for s in summarize(result) if s.target == "dbplex"]
    assert dbplex and all(s.pool_wait is not None and s.pool_wait.checkouts > 0 for s in dbplex)
    assert all(s.pool_wait is None for s in summarize(result) if s.target == "raw")
    if result.sweep is not None:
        assert all(p.wait_p99_us is not None for v in result.sweep.sources for p in v.points)
        assert all(p.pool_wait is not None for p in points(result.runs, result.sweep.sources[0].source))
