"""Result files: JSON round trip, schema versions, overhead figures, CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dbplex.bench import results, summary
from dbplex.errors import ConfigError

from .factories import make_result


def test_json_round_trip_keeps_histograms(tmp_path: Path) -> None:
    result = make_result({("redis", "dbplex"): [(1000.0, 250)]})
    path = results.save(result, tmp_path / "deep" / "r.json")
    loaded = results.load(path)
    assert loaded == result
    document = json.loads(path.read_text())
    assert document["schema_version"] == results.SCHEMA_VERSION
    assert document["workload"]["hash"] == result.workload.hash
    assert document["runs"][0]["phases"]["run"]["ops_by_type"]["read"]["latency"]["encoded"].startswith("HIST")


def test_newer_schema_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = results.save(make_result({("redis", "dbplex"): [(1000.0, 250)]}), tmp_path / "r.json")
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 99'))
    with pytest.raises(ConfigError, match=r"r\.json: result schema version 99"):
        results.load(path)


def test_not_a_result(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a dbplex bench result"):
        results.load(path)


def test_overhead_is_the_median_of_back_to_back_rounds() -> None:
    result = make_result(
        {
            ("pg", "dbplex"): [(900.0, 1000), (950.0, 1000), (100.0, 1000)],
            ("pg", "raw"): [(1000.0, 900), (990.0, 900), (1010.0, 900)],
        }
    )
    (overhead,) = result.overheads
    assert overhead.round_overheads_pct == [11.11, 4.21, 910.0]
    assert overhead.overhead_pct == 11.11  # the round disturbed by other load does not drag it
    assert overhead.noise_pct == pytest.approx(6.9, abs=0.01)
    assert (overhead.dbplex_ops_s, overhead.raw_ops_s) == (900.0, 1000.0)
    assert overhead.added_us_per_op == pytest.approx(1e6 / 900 - 1e6 / 1000, abs=0.01)


def test_summary_merges_rounds() -> None:
    result = make_result({("pg", "dbplex"): [(1000.0, 100), (1000.0, 10_000)]})
    (target,) = summary.summarize(result)
    assert target.rounds == 2 and target.ops == 2000
    assert target.latency.p50_us == pytest.approx(100, rel=0.001)
    assert target.latency.max_us == pytest.approx(10_000, rel=0.001)


def test_csv_has_a_row_per_target_and_op(tmp_path: Path) -> None:
    result = make_result({("pg", "dbplex"): [(1000.0, 100)], ("pg", "raw"): [(1100.0, 90)]})
    with summary.write_csv(result, tmp_path / "r.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["target"], r["op"]) for r in rows] == [
        ("dbplex", "all"),
        ("dbplex", "read"),
        ("raw", "all"),
        ("raw", "read"),
    ]
    assert rows[0]["throughput_ops_s"] == "1000.0" and rows[0]["p50_us"] == "100"
