"""Comparing two results: regressions beyond a threshold fail, by command exit code too."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dbplex.bench import compare, results
from dbplex.cli.main import cli
from dbplex.errors import ConfigError

from .factories import make_result


def test_threshold_parsing() -> None:
    assert compare.parse_threshold("5%") == compare.parse_threshold("5") == 5.0
    with pytest.raises(ConfigError, match="percentage"):
        compare.parse_threshold("five")


def test_lower_throughput_and_higher_latency_are_regressions() -> None:
    old = make_result({("pg", "dbplex"): [(1000.0, 100)]})
    new = make_result({("pg", "dbplex"): [(900.0, 104)]})
    comparison = compare.compare(old, new, 5.0)
    by_metric = {c.metric: c for c in comparison.changes}
    assert by_metric["throughput"].worse_pct == pytest.approx(10.0) and by_metric["throughput"].regression
    assert by_metric["p99"].worse_pct == pytest.approx(4.0, abs=0.2) and not by_metric["p99"].regression


def test_improvements_pass() -> None:
    old = make_result({("pg", "dbplex"): [(1000.0, 100)]})
    new = make_result({("pg", "dbplex"): [(1200.0, 80)]})
    assert not compare.compare(old, new, 5.0).regressions


def test_different_workloads_are_refused_unless_allowed() -> None:
    old = make_result({("pg", "dbplex"): [(1000.0, 100)]}, workload_name="a")
    new = make_result({("pg", "dbplex"): [(1000.0, 100)]}, workload_name="c")
    with pytest.raises(ConfigError, match="different workloads"):
        compare.compare(old, new, 5.0)
    assert compare.compare(old, new, 5.0, allow_workload_change=True).changes


def test_unmatched_targets_are_listed() -> None:
    old = make_result({("pg", "dbplex"): [(1000.0, 100)], ("pg", "raw"): [(1000.0, 100)]})
    new = make_result({("pg", "dbplex"): [(1000.0, 100)]})
    assert compare.compare(old, new, 5.0).only_old == ["pg/raw threads=1 pool=1"]


def _files(tmp_path: Path, old: results.BenchResult, new: results.BenchResult) -> tuple[str, str]:
    return str(results.save(old, tmp_path / "old.json")), str(results.save(new, tmp_path / "new.json"))


def test_command_exits_1_on_regression_and_0_otherwise(tmp_path: Path) -> None:
    old_path, new_path = _files(
        tmp_path, make_result({("pg", "dbplex"): [(1000.0, 100)]}), make_result({("pg", "dbplex"): [(900.0, 100)]})
    )
    failed = CliRunner().invoke(cli, ["bench", "compare", old_path, new_path, "--fail-above", "5%"])
    assert failed.exit_code == 1, failed.output
    assert "REGRESSION" in failed.output
    passed = CliRunner().invoke(cli, ["bench", "compare", old_path, new_path, "--fail-above", "15%"])
    assert passed.exit_code == 0, passed.output
    latency_only = CliRunner().invoke(cli, ["bench", "compare", old_path, new_path, "--metric", "p50"])
    assert latency_only.exit_code == 0, latency_only.output
