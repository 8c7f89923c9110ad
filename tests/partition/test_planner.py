"""Planner decisions from hand-written inventories (what a backend's inspect would report)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbplex.partition import Action, Existing, Inventory, Partition, PlanError, layout, plan
from dbplex.partition.layout import time_partition

from .conftest import time_spec, utc


def existing(spec_partitions: list[Partition], state: str = "attached") -> list[Existing]:
    return [Existing(partition=p, state=state) for p in spec_partitions]  # type: ignore[arg-type]


def test_an_empty_target_gets_backend_actions_first_then_every_wanted_partition(now: datetime) -> None:
    spec = time_spec(interval="1 day", premake=2, retention="2 days")
    setup = Action(kind="setup", partition=None, reason="create the parent table")
    result = plan(spec, Inventory(actions=[setup]), now)
    kinds = [a.kind for a in result.actions]
    assert kinds == ["setup", "create", "create", "create", "create", "create"]
    assert [a.partition.label for a in result.actions[1:]] == [  # type: ignore[union-attr]
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-11-27",
    ]
    assert "premake" in result.actions[-1].reason
    assert result.layout.horizon == utc(2026, 11, 28)


def test_a_second_run_has_nothing_to_do(now: datetime) -> None:
    spec = time_spec(interval="1 month", premake=3)
    first = plan(spec, Inventory(), now)
    second = plan(spec, Inventory(partitions=existing(first.missing)), now)
    assert second.actions == [] and second.notes == []


def test_a_partition_overlapping_one_under_another_name_is_skipped_and_reported(now: datetime) -> None:
    spec = time_spec(interval="1 day", premake=1)
    legacy = Partition(target="events", kind="range", label="legacy", lower=utc(2026, 11, 20), upper=utc(2026, 11, 26))
    result = plan(spec, Inventory(partitions=existing([legacy])), now)
    assert [p.label for p in result.missing] == ["2026-11-26"]
    assert len(result.notes) == 1
    assert "events_p2026_11_25" in result.notes[0] and "overlaps events_plegacy" in result.notes[0]
    # a retired (detached) one under another name no longer counts
    result = plan(spec, Inventory(partitions=existing([legacy], "detached")), now)
    assert [p.label for p in result.missing] == ["2026-11-25", "2026-11-26"]


def test_retention_retires_exactly_the_partitions_past_the_cutoff(now: datetime) -> None:
    spec = time_spec(interval="1 day", premake=1, retention="3 days", retention_mode="detach")
    days = [time_partition(spec, utc(2026, 11, d)) for d in range(18, 27)]
    result = plan(spec, Inventory(partitions=existing(days)), now)
    cutoff = result.layout.cutoff
    assert cutoff == now - timedelta(days=3)  # 2026-11-22 13:30: the 22nd still holds in-window rows
    assert [p.label for p in result.expired] == ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    assert all(a.kind == "retire" for a in result.actions)
    assert "detach" in result.actions[0].reason


def test_retirement_skips_partitions_already_retiring_or_retired(now: datetime) -> None:
    spec = time_spec(interval="1 day", premake=0, retention="1 day")
    old = [time_partition(spec, utc(2026, 11, d)) for d in (20, 21, 22)]
    inventory = Inventory(
        partitions=[
            Existing(old[0], state="detached"),
            Existing(old[1], state="detaching"),
            Existing(old[2]),
            *existing([time_partition(spec, utc(2026, 11, d)) for d in (24, 25)]),
        ],
        actions=[Action(kind="finalize", partition=old[1], reason="finish the interrupted detach")],
    )
    result = plan(spec, inventory, now)
    assert [(a.kind, a.partition.label) for a in result.actions] == [  # type: ignore[union-attr]
        ("finalize", "2026-11-21"),
        ("retire", "2026-11-22"),
    ]


def test_problems_stop_the_plan_with_every_reason(now: datetime) -> None:
    spec = time_spec(name="events_by_day")
    with pytest.raises(PlanError, match=r"partitions 'events_by_day': 2 problems") as info:
        plan(spec, Inventory(ready=False, problem="table events is not partitioned"), now, problems=["unique (id)"])
    assert info.value.problems == ["unique (id)", "table events is not partitioned"]
    assert info.value.exit_code == 2


def test_misplaced_rows_without_a_repair_are_noted(now: datetime) -> None:
    spec = time_spec(default=True, premake=0)
    result = plan(spec, Inventory(misplaced=7), now)
    assert [a.partition.name for a in result.actions] == ["events_default", "events_p2026_11_25"]  # type: ignore[union-attr]
    assert "7 rows in the default partition" in result.notes[0]


def test_hash_and_list_partitions_are_created_once() -> None:
    spec = time_spec(interval=None, strategy="hash", modulus=4, premake=0)
    result = plan(spec, Inventory(partitions=existing([layout(spec, utc(2026, 1, 1)).wanted[1]])), utc(2026, 1, 1))
    assert [p.name for p in result.missing] == ["events_h0", "events_h2", "events_h3"]
    # hash partitions of another modulus overlap every new one
    other = Partition(target="events", kind="hash", label="x0", modulus=2, remainder=0)
    assert plan(spec, Inventory(partitions=existing([other])), utc(2026, 1, 1)).missing == []


windows = st.sampled_from(["1 hour", "12 hours", "1 day", "3 days", "1 month", "2 months"])


@given(
    interval=st.sampled_from(["1 hour", "1 day", "1 week", "1 month"]),
    retention=windows,
    offsets=st.sets(st.integers(-80, 10), max_size=40),
    minutes=st.integers(0, 60 * 24 * 60),
)
def test_retention_never_selects_a_partition_with_in_window_rows(
    interval: str, retention: str, offsets: set[int], minutes: int
) -> None:
    spec = time_spec(interval=interval, retention=retention, premake=2)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    step = spec.time_interval
    assert step is not None
    current = step.floor(now)
    present = [time_partition(spec, step.add(current, k)) for k in sorted(offsets)]
    result = plan(spec, Inventory(partitions=existing(present)), now)
    cutoff = result.layout.cutoff
    assert cutoff is not None
    retired = {p.name for p in result.expired}
    # exactly the partitions whose every possible row is older than the cutoff
    assert retired == {p.name for p in present if p.upper <= cutoff}  # type: ignore[operator]
    assert not retired & {p.name for p in result.missing}
    # and the horizon is kept: every partition from the current one to the horizon exists or is created
    made = {p.name for p in present} | {p.name for p in result.missing}
    for k in range(3):
        assert time_partition(spec, step.add(current, k)).name in made


def test_partitions_a_repair_creates_are_not_created_again(now: datetime) -> None:
    spec = time_spec(default=True, premake=2)
    wanted = layout(spec, now).wanted
    default = next(p for p in wanted if p.kind == "default")
    today, tomorrow = (p for p in wanted if p.label in ("2026-11-25", "2026-11-26"))
    repair = Action(kind="repair", partition=None, reason="rows in the default", payload=[today, tomorrow])
    result = plan(spec, Inventory(partitions=existing([default]), misplaced=3, actions=[repair]), now)
    assert [(a.kind, a.partition.label if a.partition else None) for a in result.actions] == [
        ("repair", None),
        ("create", "2026-11-27"),
    ]
    assert [p.label for p in result.missing] == ["2026-11-27"]


def test_a_wanted_partition_that_was_detached_is_made_again(now: datetime) -> None:
    spec = time_spec(premake=1, retention="3 days", retention_mode="detach")
    wanted = layout(spec, now).wanted
    detached = wanted[-1]
    found = Inventory(partitions=[*existing(wanted[:-1]), Existing(detached, state="detached")])
    assert [a.partition for a in plan(spec, found, now).actions] == [detached]
