"""Intervals and layouts: pure properties that every host relies on to agree."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbplex.partition import Interval, layout, partition_for
from dbplex.partition.layout import far_future

from .conftest import time_spec, utc

INTERVALS = ["1 minute", "15 minutes", "1 hour", "6 hours", "1 day", "1 week", "1 month", "3 months", "1 year"]
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc))


@given(interval=st.sampled_from(INTERVALS), moment=moments)
def test_every_moment_falls_in_exactly_one_partition(interval: str, moment: datetime) -> None:
    spec = time_spec(interval=interval)
    partition = partition_for(spec, moment)
    assert partition is not None and partition.holds(moment)
    step = Interval.parse(interval)
    before = partition_for(spec, step.add(partition.lower, -1))  # type: ignore[arg-type]
    after = partition_for(spec, partition.upper)  # type: ignore[arg-type]
    assert before is not None and after is not None
    assert not before.holds(moment) and not after.holds(moment)
    assert before.upper == partition.lower and partition.upper == after.lower  # no gap, no overlap


@given(interval=st.sampled_from(INTERVALS), a=moments, b=moments)
def test_labels_and_names_sort_like_bounds(interval: str, a: datetime, b: datetime) -> None:
    spec = time_spec(interval=interval)
    pa, pb = partition_for(spec, a), partition_for(spec, b)
    assert pa is not None and pb is not None
    assert (pa.lower < pb.lower) == (pa.label < pb.label)  # type: ignore[operator]
    assert (pa.lower == pb.lower) == (pa.name == pb.name)
    assert (pa.lower < pb.lower) == (pa.name < pb.name)  # type: ignore[operator]


# no deadline: an hourly spec kept a year is 8,761 partitions, and time is not what this asserts
@settings(max_examples=200, deadline=None)
@given(
    interval=st.sampled_from(INTERVALS[2:]),
    retention=st.sampled_from(["2 hours", "1 day", "30 days", "1 month", "3 months", "1 year"]),
    premake=st.integers(0, 6),
    now=moments,
)
def test_layout_keeps_the_window_and_the_horizon(interval: str, retention: str, premake: int, now: datetime) -> None:
    spec = time_spec(interval=interval, retention=retention, premake=premake)
    wanted = layout(spec, now)
    ranges = [p for p in wanted.wanted if p.kind == "range"]
    assert wanted.cutoff is not None and isinstance(wanted.horizon, datetime)
    # contiguous, from the partition holding the cutoff to premake partitions past the current one
    assert all(a.upper == b.lower for a, b in itertools.pairwise(ranges))
    assert ranges[0].holds(wanted.cutoff)
    assert ranges[-1].upper == wanted.horizon
    current = partition_for(spec, now)
    assert current in ranges
    assert ranges.index(current) == len(ranges) - 1 - premake  # type: ignore[arg-type]
    # every wanted partition can hold an in-window row
    assert all(p.upper > wanted.cutoff for p in ranges)  # type: ignore[operator]


def test_month_layout_with_since_covers_history(now: datetime) -> None:
    spec = time_spec(interval="1 month", since="2025-06-10", premake=3)
    labels = [p.label for p in layout(spec, now).wanted]
    assert labels[0] == "2025-06" and labels[-1] == "2027-02" and len(labels) == 21
    assert layout(spec, now).wanted[0].name == "events_p2025_06"


def test_since_never_reaches_past_retention(now: datetime) -> None:
    spec = time_spec(interval="1 day", since="2020-01-01", retention="7 days", premake=1)
    wanted = layout(spec, now)
    assert wanted.wanted[0].label == "2026-11-18"
    assert wanted.wanted[-1].label == "2026-11-26"


def test_numeric_and_fixed_layouts() -> None:
    spec = time_spec(interval=None, step=100, start=0, premake=2, key="id")
    assert [p.label for p in layout(spec, utc(2026, 1, 1), highest=250).wanted] == ["0", "100", "200", "300", "400"]
    assert layout(spec, utc(2026, 1, 1), highest=250).horizon == 500
    hashed = time_spec(interval=None, strategy="hash", modulus=3, premake=0)
    assert [p.name for p in layout(hashed, utc(2026, 1, 1)).wanted] == ["events_h0", "events_h1", "events_h2"]
    listed = time_spec(interval=None, strategy="list", lists={"eu": ["de", "fr"], "us": ["us"]}, default=True)
    assert [p.name for p in layout(listed, utc(2026, 1, 1)).wanted] == ["events_eu", "events_us", "events_default"]


def test_far_future_keys_are_refused_at_the_horizon(now: datetime) -> None:
    spec = time_spec(interval="1 day", premake=2)  # horizon: the end of 2026-11-27
    assert far_future(spec, utc(2026, 11, 27, 23, 59), now) is None
    assert far_future(spec, utc(2020, 1, 1), now) is None
    refused = far_future(spec, utc(2026, 11, 28), now)
    assert refused is not None and "beyond the premade horizon 2026-11-28T00:00:00+00:00" in refused
    assert far_future(spec, utc(3026, 11, 28), now) is not None
    naive = datetime(2027, 1, 1)
    assert far_future(spec, naive, now) is not None


@pytest.mark.parametrize(
    ("text", "months", "seconds"),
    [("1 day", 0, 86400), ("2 weeks", 0, 14 * 86400), ("month", 1, 0), ("3 months", 3, 0), ("1 year", 12, 0)],
)
def test_interval_parsing(text: str, months: int, seconds: int) -> None:
    parsed = Interval.parse(text)
    assert (parsed.months, parsed.seconds) == (months, seconds)


def test_weeks_start_on_monday() -> None:
    week = Interval.parse("1 week")
    assert week.floor(utc(2026, 11, 25, 13)).weekday() == 0
    assert week.floor(utc(2026, 11, 25, 13)) == utc(2026, 11, 23)
    assert week.add(utc(2026, 11, 23)) - utc(2026, 11, 23) == timedelta(days=7)


def test_a_since_later_than_now_with_retention_still_wants_the_current_partition(now: datetime) -> None:
    spec = time_spec(since="2027-06-01", retention="30 days", premake=2)
    wanted = layout(spec, now).wanted
    assert [p.label for p in wanted] == ["2026-11-25", "2026-11-26", "2026-11-27"]
    without_retention = time_spec(since="2027-06-01", premake=2)
    assert [p.label for p in layout(without_retention, now).wanted] == ["2026-11-25", "2026-11-26", "2026-11-27"]


def test_far_future_date_keys_are_refused_and_text_keys_are_named(now: datetime) -> None:
    from datetime import date

    spec = time_spec(premake=2)
    assert far_future(spec, date(2026, 11, 27), now) is None
    refused = far_future(spec, date(2026, 11, 28), now)
    assert refused and "at = 2026-11-28T00:00:00+00:00 is beyond the premade horizon" in refused
    assert far_future(spec, date(3026, 1, 1), now) is not None
    text = far_future(spec, "2026-11-25T10:00:00", now)
    assert text and "is a str; a time-range key must be a datetime or a date" in text
    assert far_future(spec, None, now) is None  # the backend refuses a row without its key
    assert far_future(time_spec(interval=None, step=10, premake=1), "abc", now) is None  # not a time range


def test_names_keep_capital_letters_of_the_target_and_replace_only_the_time_separator() -> None:
    from dbplex.partition.naming import from_name

    spec = time_spec(target="Trips", interval="1 hour")
    part = partition_for(spec, utc(2026, 11, 25, 13, 30))
    assert part is not None and part.label == "2026-11-25T13" and part.name == "Trips_p2026_11_25_13"
    assert from_name(spec, "Trips_p2026_11_25_13") == part
    quarter = time_spec(target="TTL_Trips", interval="15 minutes")
    slot = partition_for(quarter, utc(2026, 11, 25, 13, 30))
    assert slot is not None and slot.name == "TTL_Trips_p2026_11_25_1330"
    assert from_name(quarter, slot.name) == slot
