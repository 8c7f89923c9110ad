"""Redis partitioning without a server: keys, hash tags, scores, members, expiry and commands."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbplex.partition import Condition, Partition, PartitionSpec
from dbplex.partition.expiry import expires_at, retention_seconds
from dbplex.partition.layout import fixed_partitions, layout, time_partition
from dbplex.partition.rowfilter import matches
from dbplex_redis import partition_keys as keys
from tests.partition.conftest import spec_factory

NOW = datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)


spec = spec_factory(source="cache", target="live:updates")


def hashed(**fields: Any) -> PartitionSpec:
    return spec(strategy="hash", interval=None, key="game_id", modulus=8, **fields)


def test_time_buckets_are_named_by_label_under_the_prefix() -> None:
    today = time_partition(spec(), datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert keys.bucket(spec(), today) == "live:updates:2026-11-25"
    assert keys.bucket(spec(), today, "app:") == "app:live:updates:2026-11-25"
    assert keys.registry(spec(), "app:") == "app:live:updates:partitions"
    assert keys.label_of(spec(), "app:live:updates:2026-11-25", "app:") == "2026-11-25"
    assert keys.label_of(spec(), "other:2026-11-25") is None
    assert keys.family_pattern(spec(), "a*b[") == "a\\*b\\[live:updates:*"


def test_hash_buckets_carry_a_hash_tag_shared_by_colocated_families() -> None:
    parts = fixed_partitions(hashed())
    assert keys.bucket(hashed(), parts[3]) == "live:updates:{live:updates:h3}"
    assert keys.label_of(hashed(), "live:updates:{live:updates:h3}") == "h3"
    games = hashed(colocate="team_id")
    stats = PartitionSpec(source="cache", target="stats", strategy="hash", key="x", modulus=8, colocate="team_id")
    a, b = keys.bucket(games, parts[3]), keys.bucket(stats, fixed_partitions(stats)[3])
    assert (a, b) == ("live:updates:{team_id:h3}", "stats:{team_id:h3}")
    # one hash tag, so one slot of a Redis Cluster: tests/redis/test_cluster_partition.py asks a cluster
    # rows sharing the colocate value land in the same-numbered bucket of both families
    assert keys.row_remainder(games, {"game_id": 1, "team_id": 42}) == keys.row_remainder(
        stats, {"x": 9, "team_id": 42}
    )


def test_the_hash_is_crc32_of_the_value_as_text() -> None:
    assert keys.row_remainder(hashed(), {"game_id": 12345}) == zlib.crc32(b"12345") % 8
    assert keys.remainder(hashed(), "abc") == zlib.crc32(b"abc") % 8
    assert {keys.remainder(hashed(), i) for i in range(200)} == set(range(8))


def test_the_hash_input_is_the_normalised_value() -> None:
    assert keys.hash_input(1) == keys.hash_input(1.0) == keys.hash_input(True) == b"1"
    assert keys.hash_input(-0.0) == keys.hash_input(0) == keys.hash_input(False) == b"0"
    assert keys.hash_input(0.5) == b"0.5" and keys.hash_input("caf\u00e9") == "caf\u00e9".encode()
    paris = datetime(2026, 11, 25, 14, 30, tzinfo=timezone(timedelta(hours=1)))
    assert keys.hash_input(paris) == keys.hash_input(NOW) == b"2026-11-25T13:30:00+00:00"
    assert keys.hash_input(NOW.replace(tzinfo=None)) == keys.hash_input(NOW)  # naive is UTC, as stored
    assert keys.hash_input((1.0, {"b": 2, "a": [True]})) == b'[1,{"a":[1],"b":2}]'
    assert keys.remainder(hashed(), 1.0) == keys.row_remainder(hashed(), {"game_id": 1}) == zlib.crc32(b"1") % 8


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-5, minutes=-30))])),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6,
)


@given(_values, _values)
@settings(max_examples=400, deadline=None)
def test_values_a_query_takes_as_equal_land_in_one_bucket(a: Any, b: Any) -> None:
    # what the query compares with is the row as stored: a row is written, read back and matched
    stored = keys.decode(keys.encode({"game_id": a}))["game_id"]
    if matches({"game_id": stored}, [Condition("game_id", "==", b)]):
        assert keys.remainder(hashed(), b) == keys.row_remainder(hashed(), {"game_id": a})


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_an_integer_and_the_equal_float_share_a_bucket(n: int) -> None:
    assert keys.remainder(hashed(), n) == keys.remainder(hashed(), float(n)) == zlib.crc32(str(n).encode()) % 8


def test_scores_are_exact_for_datetimes_and_numbers() -> None:
    moment = datetime(2026, 11, 25, 13, 30, 1, 123456, tzinfo=timezone.utc)
    assert keys.score(moment) == 1795613401123456.0
    assert keys.score(moment.replace(tzinfo=None)) == keys.score(moment)  # naive means UTC
    assert keys.score(7) == 7.0 and keys.score(2.5) == 2.5
    assert keys.score("x") == 0.0 and keys.score(None) == 0.0 and keys.score(True) == 0.0


def test_members_round_trip_with_sorted_keys_and_utc_datetimes() -> None:
    row = {"b": 1, "at": datetime(2026, 11, 25, 13, 30), "a": [1, "x"], "n": None}
    member = keys.encode(row)
    assert member == keys.encode({"n": None, "a": [1, "x"], "at": row["at"], "b": 1})  # key order does not matter
    assert keys.decode(member) == {**row, "at": datetime(2026, 11, 25, 13, 30, tzinfo=timezone.utc)}


@pytest.mark.parametrize(
    ("interval", "retention", "upper", "expiry"),
    [
        ("1 day", "3 days", datetime(2026, 11, 26), datetime(2026, 11, 29)),
        ("1 hour", "90 minutes", datetime(2026, 11, 25, 14), datetime(2026, 11, 25, 15, 30)),
        ("1 month", "1 month", datetime(2026, 12, 1), datetime(2027, 1, 1)),
        # the 31st plus a month: November has no 31st, and `now - 1 month` stays before the 31st
        # of October until December begins
        ("1 day", "1 month", datetime(2026, 10, 31), datetime(2026, 12, 1)),
        ("1 day", "1 month", datetime(2026, 3, 31), datetime(2026, 5, 1)),
        ("1 day", "1 year", datetime(2028, 2, 29), datetime(2029, 3, 1)),
    ],
)
def test_a_bucket_expires_exactly_when_its_whole_range_leaves_the_window(
    interval: str, retention: str, upper: datetime, expiry: datetime
) -> None:
    timed = spec(interval=interval, retention=retention)
    upper, expiry = upper.replace(tzinfo=timezone.utc), expiry.replace(tzinfo=timezone.utc)
    partition = Partition("live:updates", "range", "x", lower=upper - timedelta(hours=1), upper=upper)
    assert expires_at(timed, partition) == expiry
    # the planner's rule agrees: not retired a microsecond before, retired at that moment
    before = layout(timed, expiry - timedelta(microseconds=1)).cutoff
    at = layout(timed, expiry).cutoff
    assert before is not None and at is not None and before < upper <= at
    assert keys.expiry_ms(timed, partition) == int(expiry.timestamp() * 1000)


def test_nothing_expires_without_retention_or_outside_time_ranges() -> None:
    part = time_partition(spec(), datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert expires_at(spec(), part) is None and keys.expiry_ms(spec(), part) is None
    assert keys.expiry_ms(hashed(), fixed_partitions(hashed())[0]) is None
    assert retention_seconds(spec(retention="2 months")) == 62 * 86400 and retention_seconds(spec()) is None


def test_create_and_retire_commands() -> None:
    timed = spec(retention="3 days")
    lower = datetime(2026, 11, 25, tzinfo=timezone.utc)
    part = time_partition(timed, lower)
    assert [keys.text(c) for c in keys.create_commands(timed, part, "app:")] == [
        f"ZADD app:live:updates:partitions NX {int(lower.timestamp()) * 1_000_000} 2026-11-25",
        f"PEXPIREAT app:live:updates:2026-11-25 {int(datetime(2026, 11, 29, tzinfo=timezone.utc).timestamp()) * 1000}",
    ]
    assert [keys.text(c) for c in keys.retire_commands(timed, part)] == [
        "DEL live:updates:2026-11-25",
        "ZREM live:updates:partitions 2026-11-25",
    ]
    assert [keys.text(c) for c in keys.create_commands(hashed(), fixed_partitions(hashed())[2])] == [
        "ZADD live:updates:partitions NX 2 h2"
    ]


def test_score_ranges_come_from_conditions_on_the_key() -> None:
    at = datetime(2026, 11, 25, tzinfo=timezone.utc)
    micro = int(keys.score(at))
    where = [Condition("at", ">", at), Condition("at", "<=", at + timedelta(hours=1)), Condition("n", "<", 3)]
    assert keys.score_range(spec(), where) == (f"({micro}", str(micro + 3_600_000_000))
    assert keys.score_range(spec(), [Condition("at", "==", at)]) == (str(micro), str(micro))
    assert keys.score_range(spec(), [Condition("at", "in", [at])]) == ("-inf", "+inf")
    assert keys.score_range(spec(key="n"), [Condition("n", ">=", 2.5)]) == ("2.5", "+inf")


def test_what_redis_cannot_do_is_named() -> None:
    assert keys.problems(spec(options={"layout": "x"})) == ["Redis partitions take no options, got ['layout']"]
    assert "retention_mode must be" in keys.problems(spec(retention="3 days", retention_mode="detach"))[0]
    listed = spec(strategy="list", interval=None, lists={"partitions": ["a"]})
    assert keys.problems(listed) == ["lists: 'partitions' is reserved for the registry key live:updates:partitions"]


def test_row_filters_follow_the_query_semantics() -> None:
    row = {"n": 3, "s": "x", "none": None}
    assert matches(row, [Condition("n", ">=", 3), Condition("n", "<", 4), Condition("s", "in", ["x", "y"])])
    assert matches(row, [Condition("missing", "==", None), Condition("none", "==", None), Condition("n", "!=", None)])
    assert not matches(row, [Condition("none", "<", 5)])  # ordering against None is false
    assert not matches(row, [Condition("s", ">", 1)])  # so is ordering across types
    assert matches(row, [])
