"""``dbplex check`` against real servers: every planted problem is found, and nothing else."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dbplex
from dbplex.check import engine
from dbplex.check.report import CheckResult, Report
from dbplex.cli.main import cli
from dbplex.config import from_dict
from dbplex.errors import ConfigError
from tests.check.conftest import GAMES, PLANTED, VENUES, Dataset

#: larger than anything planted, so every offending key is listed.
SAMPLE = 100


def run(
    data: Dataset, now: dt.datetime | None = None, only: bool = False, **extra: dict[str, Any]
) -> dict[str, CheckResult]:
    """The dataset's rules and ``extra`` ones (``only``: just those), by name."""
    config = from_dict({**data.config, "checks": {**({} if only else data.config["checks"]), **extra}})
    with dbplex.open(config) as hub:
        report = engine.run(hub, config.checks, sample=SAMPLE, now=now)
    return {result.name: result for result in report.checks}


def keys(found: Any) -> list[int]:
    return sorted(int(k) for k in found.sample)


def test_every_planted_problem_is_found_exactly(dirty: Dataset) -> None:
    results = run(dirty)
    orphans = results["game_venue"].violations
    assert sorted(int(o["key"]) for o in orphans.sample) == PLANTED["orphan_venues"] == sorted([17, 444])
    assert {o["value"] for o in orphans.sample} == {"99"} and orphans.count == 2
    assert [int(o["value"]) for o in results["event_game"].violations.sample] == PLANTED["events_extra"]
    assert [int(o["key"]) for o in results["cache_venue"].violations.sample] == PLANTED["cache_extra"]
    assert keys(results["game_score"].violations) == PLANTED["missing_score"]
    # the events copy the games' null scores, and lack two more (one absent, one null)
    assert keys(results["event_score"].violations) == sorted(PLANTED["missing_score"] + PLANTED["events_no_score"])
    assert keys(results["game_status"].violations) == PLANTED["bad_status"]
    assert keys(results["event_status"].violations) == PLANTED["bad_status"]
    assert keys(results["cache_name"].violations) == PLANTED["cache_different"]
    assert keys(results["cache_no_name"].violations) == PLANTED["cache_no_name"]
    assert keys(results["cache_dup"].violations) == [7, 77]
    assert keys(results["game_slot"].violations) == PLANTED["dup_slot"]
    assert keys(results["event_slot"].violations) == PLANTED["dup_slot"]  # $group on the server
    assert keys(results["event_slot_status"].violations) == PLANTED["dup_slot"]  # two fields: streamed
    events = results["events_mirror"]
    assert events.method == "bisection"
    assert (keys(events.missing), keys(events.extra), keys(events.different)) == (
        PLANTED["events_missing"],
        PLANTED["events_extra"],
        PLANTED["events_different"],
    )
    cache = results["cache_mirror"]
    assert cache.method == "lookup"
    assert (keys(cache.missing), keys(cache.extra), keys(cache.different)) == (
        PLANTED["cache_missing"],
        PLANTED["cache_extra"],
        sorted(PLANTED["cache_different"] + PLANTED["cache_no_name"]),
    )
    for name in ("game_venue", "event_game", "cache_venue", "game_score", "event_score", "game_status"):
        assert results[name].status == "fail", name
    for name in ("game_fresh", "event_fresh", "venue_count", "cache_count"):
        assert results[name].status == "pass", name
    assert results["venue_count"].value == VENUES and results["cache_count"].value == VENUES


def test_bisection_reads_each_side_at_most_twice(dirty: Dataset) -> None:
    result = run(dirty)["events_mirror"]
    pg, docs = f"pg.{dirty.games}", f"docs.{dirty.events}"
    # each side's server read its rows once for the first segments' checksums, and the rows
    # of the differing segments once more; the rest are a few bound lookups
    assert result.rows == {pg: GAMES, docs: GAMES - len(PLANTED["events_missing"]) + len(PLANTED["events_extra"])}
    assert result.rows[pg] <= result.reads[pg] <= 2 * result.rows[pg]
    assert result.rows[docs] <= result.reads[docs] <= 2 * result.rows[docs]


def test_a_mirror_by_integer_keys_refuses_other_keys(dirty: Dataset) -> None:
    with dbplex.open(dirty.config) as hub, hub.connection("docs") as db:
        db[dirty.events].insert_one({"game_id": "G-1", "status": "final"})
    mirror = {
        "kind": "mirror",
        "source": f"pg.{dirty.games}",
        "target": f"docs.{dirty.events}",
        "target_key": "game_id",
    }
    with pytest.raises(ConfigError, match=r"holds 'G-1', not an integer: a mirror over it needs key_type = \"str\""):
        run(dirty, only=True, strict=mirror)
    by_text = run(dirty, only=True, loose={**mirror, "key_type": "str"})["loose"]
    assert by_text.method == "lookup"
    assert sorted(by_text.extra.sample) == ["6000", "G-1"]
    assert keys(by_text.missing) == PLANTED["events_missing"]


def test_freshness_and_row_count_fail_past_their_bounds(dirty: Dataset) -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    results = run(dirty, now=later, tight={"kind": "row_count", "target": f"cache.{dirty.family}", "max": 5})
    assert results["game_fresh"].status == results["event_fresh"].status == "fail"
    newest = dt.datetime.fromisoformat(results["game_fresh"].value)
    assert abs(newest - (dirty.start + dt.timedelta(minutes=GAMES))) < dt.timedelta(seconds=1)
    assert results["tight"].status == "fail" and results["tight"].value == VENUES


def _value(value: Any) -> str:
    """``value`` in TOML (strings, numbers, lists and inline tables are all this needs)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return json.dumps(value)


def toml(config: dict[str, Any]) -> str:
    return "\n".join(
        f"[{section}.{name}]\n" + "".join(f"{key} = {_value(v)}\n" for key, v in table.items())
        for section, tables in config.items()
        for name, table in tables.items()
    )


def _cli(data: Dataset, tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "dbplex.toml"
    config.write_text(toml(data.config))
    return CliRunner().invoke(cli, ["--config", str(config), "check", *args])


def test_a_clean_dataset_passes_with_exit_0(clean: Dataset, tmp_path: Path) -> None:
    result = _cli(clean, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert [c["status"] for c in report["checks"]] == ["pass"] * len(clean.config["checks"])


def test_a_failed_rule_exits_1_with_its_keys(dirty: Dataset, tmp_path: Path) -> None:
    result = _cli(dirty, tmp_path, "game_score", "events_mirror")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("FAIL  game_score (missing): 2 rows [3, 4000]")
    assert lines[1].startswith(
        "FAIL  events_mirror (mirror): missing 3 [5, 1500, 2999]; extra 1 [6000]; different 2 [100, 2000]; by bisection"
    )
    assert lines[2] == "0 passed, 2 failed"
    as_json = _cli(dirty, tmp_path, "--json", "--sample", "1", "game_score")
    assert as_json.exit_code == 1
    assert msgspec_report(as_json.output).checks[0].violations.sample == ["3"]


def msgspec_report(text: str) -> Report:
    import msgspec

    return msgspec.json.decode(text, type=Report)


def test_an_unknown_rule_is_a_usage_error(clean: Dataset, tmp_path: Path) -> None:
    result = _cli(clean, tmp_path, "no_such_rule")
    assert result.exit_code == 2
    assert "unknown check 'no_such_rule'" in result.output


def test_rules_from_a_checks_file_and_a_name_in_both_refused(clean: Dataset, tmp_path: Path) -> None:
    rules = tmp_path / "checks.toml"
    rules.write_text(toml({"checks": {"venues_few": {"kind": "row_count", "target": f"pg.{clean.venues}", "max": 5}}}))
    only_sources = Dataset(clean.name, {"sources": clean.config["sources"]}, clean.start)
    result = _cli(only_sources, tmp_path, "--checks", str(rules))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"FAIL  venues_few (row_count): rows {VENUES} (rows read: pg.{clean.venues} {VENUES})",
        "0 passed, 1 failed",
    ]
    both = tmp_path / "both.toml"
    both.write_text(toml({"checks": {"game_score": {"kind": "row_count", "target": f"pg.{clean.games}", "min": 1}}}))
    refused = _cli(clean, tmp_path, "--checks", str(both))
    assert refused.exit_code == 2
    assert f"{both}: check 'game_score' is also in" in refused.output
    nothing = _cli(only_sources, tmp_path)
    assert nothing.exit_code == 2
    assert "no checks configured: add [checks.NAME] tables to the configuration or pass --checks FILE" in nothing.output
