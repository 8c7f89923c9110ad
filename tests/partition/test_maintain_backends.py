"""Maintenance against real servers, on every backend that has a partitioner.

- several processes running ``dbplex partition maintain`` at once create each partition once;
- the premake horizon is kept, and a second run has nothing to do;
- retention removes exactly the partitions past the window and keeps every in-window row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dbplex.partition import layout
from dbplex.partition.maintain import run, status

from .conftest import Engine

PROCESSES = 6


@pytest.mark.parametrize("lock_wait", ["120", "0"], ids=["everyone-waits", "busy-ones-leave"])
def test_concurrent_maintain_from_several_processes_creates_each_partition_once(
    engine: Engine, tmp_path: Path, lock_wait: str
) -> None:
    spec = engine.spec(interval="1 hour", since="12 hours", premake=6)
    engine.prepare(spec)
    config, spec_file = engine.write_config(tmp_path, [spec])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    command = [
        sys.executable,
        "-m",
        "dbplex.cli.main",
        "--config",
        str(config),
        "partition",
        "maintain",
        "--spec",
        str(spec_file),
        "--now",
        now.isoformat(),
        "--lock-wait",
        lock_wait,
        "--json",
    ]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err or out
    runs = [json.loads(out)["runs"][0] for out, _ in outputs]
    created = Counter(
        a["partition"] for r in runs for a in r["actions"] if a["kind"] == "create" and a["status"] == "done"
    )
    wanted = [p.name for p in layout(spec, now).wanted]
    assert created == Counter(wanted), "each wanted partition is created by exactly one process"
    statuses = Counter(r["status"] for r in runs)
    assert statuses["done"] == 1 and statuses["done"] + statuses["nothing"] + statuses["busy"] == PROCESSES
    if lock_wait == "0":
        assert all("another host is maintaining" in r["message"] for r in runs if r["status"] == "busy")
    # what the database holds now
    report = status(engine.hub.partitioner(engine.backend), spec, now)
    assert report.missing == [] and report.pending == 0
    assert {p.name for p in report.partitions} >= set(wanted)


def test_the_premake_horizon_is_kept_and_a_second_run_does_nothing(engine: Engine) -> None:
    spec = engine.spec(interval="1 day", premake=3)
    engine.prepare(spec)
    partitioner = engine.hub.partitioner(engine.backend)
    first = run(partitioner, spec, "apply")
    assert first.status in ("done", "nothing"), first.error
    now = datetime.fromisoformat(first.now or "")
    horizon = layout(spec, now).horizon
    assert isinstance(horizon, datetime)
    held = status(partitioner, spec, now)
    ranges = [p for p in held.partitions if p.kind == "range" and p.state == "attached"]
    assert max(datetime.fromisoformat(str(p.upper)) for p in ranges) >= horizon
    assert held.missing == []
    again = run(partitioner, spec, "maintain")
    assert again.status == "nothing" and again.actions == [], again


def test_retention_retires_exactly_the_partitions_past_the_window(engine: Engine) -> None:
    keep_all = engine.spec(interval="1 day", since="9 days", premake=1)
    engine.prepare(keep_all)
    partitioner = engine.hub.partitioner(engine.backend)
    made = run(partitioner, keep_all, "apply")
    assert made.status == "done", made.error
    start = datetime.fromisoformat(made.now or "")
    partitioned = engine.hub.partitioned(keep_all)
    # a row at the start of each day, one in its middle and one in its last second
    rows = []
    first = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=9)
    for day in range(10):
        base = first + timedelta(days=day)
        for n, offset in enumerate((timedelta(0), timedelta(hours=12), timedelta(days=1, seconds=-1))):
            if base + offset < start:
                rows.append({"id": day * 10 + n, "at": base + offset, "grp": n, "name": f"d{day}"})
    assert partitioned.insert(rows) == len(rows)

    limited = engine.spec(interval="1 day", since="9 days", premake=1, retention="3 days", retention_mode="drop")
    before = {p.name for p in status(partitioner, limited).partitions if p.state == "attached"}
    report = run(partitioner, limited, "apply")
    assert report.status in ("done", "nothing"), report.error
    cutoff = datetime.fromisoformat(report.now or "") - timedelta(days=3)
    retired = {a["partition"] for a in _actions(report) if a["kind"] == "retire"}
    # exactly the attached partitions whose whole range is before the cutoff
    spec_parts = {p.name: p for p in layout(keep_all, start).wanted}
    expected = {name for name in before if name in spec_parts and spec_parts[name].upper <= cutoff}  # type: ignore[operator]
    assert retired == expected
    assert expected, "the test must retire something"
    # every row inside the window is still there; none outside it is
    left = engine.hub.partitioned(limited).query(order_by=["id"])
    assert [r["id"] for r in left] == sorted(r["id"] for r in rows if r["at"] >= _day_floor(cutoff))
    assert all(r["at"] >= _day_floor(cutoff) for r in left)


def _day_floor(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _actions(report: object) -> list[dict[str, object]]:
    import msgspec

    return msgspec.to_builtins(report)["actions"]  # type: ignore[no-any-return]


def test_far_future_keys_are_refused_and_nothing_is_written(engine: Engine) -> None:
    from dbplex.partition import KeyOutOfRange

    spec = engine.spec(interval="1 day", premake=1)
    engine.prepare(spec)
    partitioned = engine.hub.partitioned(spec)
    partitioned.apply()
    now = datetime.now(timezone.utc)
    rows = [
        {"id": 1, "at": now, "grp": 1, "name": "now"},
        {"id": 2, "at": now.replace(year=now.year + 10), "grp": 1, "name": "a typo"},
    ]
    with pytest.raises(KeyOutOfRange, match=r"beyond the premade horizon .*far-future keys are refused"):
        partitioned.insert(rows)
    assert partitioned.query().rows == []
    assert partitioned.insert(rows[:1]) == 1
    assert [r["id"] for r in partitioned.query()] == [1]


def test_specs_from_the_configuration_through_the_hub(engine: Engine) -> None:
    import msgspec

    import dbplex

    spec = engine.spec(interval="1 week", premake=1)
    engine.prepare(spec)
    table = {k: v for k, v in msgspec.to_builtins(spec).items() if k != "name" and v is not None}
    with dbplex.open({**engine.config, "partitions": {"weekly": table}}) as hub:
        weekly = hub.partitioned("weekly")
        assert weekly.spec.name == "weekly" and weekly.spec.label == "weekly"
        report = weekly.apply()
        assert report.status == "done" and [a.kind for a in report.actions] == ["create", "create"]
        assert weekly.maintain().status == "nothing"
        assert weekly.status().missing == []
        current = weekly.partition_for(datetime.now(timezone.utc))
        assert current is not None and current.name in {p.name for p in weekly.status().partitions}
        assert weekly.plan().actions == []


def test_retention_follows_the_moment_the_run_is_made_for(engine: Engine) -> None:
    """``--now`` in the future (a cron catching up, a drill): partitions past that moment's window are
    retired, and the backend's own safety check agrees with the plan rather than with its clock."""
    keep_all = engine.spec(interval="1 day", since="4 days", premake=6)
    engine.prepare(keep_all)
    partitioner = engine.hub.partitioner(engine.backend)
    made = run(partitioner, keep_all, "apply")
    assert made.status == "done", made.error
    later = datetime.fromisoformat(made.now or "") + timedelta(days=5)
    limited = engine.spec(interval="1 day", since="4 days", premake=6, retention="2 days", retention_mode="drop")
    report = run(partitioner, limited, "apply", now=later)
    assert report.status == "done", report.error
    retired = {a["partition"] for a in _actions(report) if a["kind"] == "retire"}
    cutoff = later - timedelta(days=2)
    made_then = layout(keep_all, datetime.fromisoformat(made.now or "")).wanted
    expected = {p.name for p in made_then if p.upper <= cutoff}  # type: ignore[operator]
    assert retired == expected and expected
