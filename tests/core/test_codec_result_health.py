"""Value codecs, results and health aggregation: pure code, no server."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbplex import Result, codec
from dbplex.errors import OpError
from dbplex.health import Health, Status, aggregate

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1), inner, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (1 == 1.0 == True in Python)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(values)
def test_msgpack_round_trips_every_uniform_type(value: Any) -> None:
    assert same(codec.unpack(codec.pack(value)), value)


@given(values)
def test_tagged_json_round_trips_through_real_json_text(value: Any) -> None:
    text = msgspec.json.encode(codec.to_json(value))
    assert same(codec.from_json(msgspec.json.decode(text)), value)


def test_tagged_json_keeps_ordinary_values_plain() -> None:
    assert codec.to_json({"a": 1, "b": 2.5, "c": "x", "d": [True, None]}) == {
        "a": 1,
        "b": 2.5,
        "c": "x",
        "d": [True, None],
    }
    assert codec.to_json(1e16) == {"$float": "1e+16"}
    assert codec.to_json(b"\x00") == {"$bytes": "AA=="}


def test_tagged_json_covers_what_jsonb_would_lose_or_refuse() -> None:
    negative_zero = codec.from_json(codec.to_json(-0.0))
    assert str(negative_zero) == "-0.0"
    assert codec.to_json("a\x00b") == {"$text": "YQBi"} and codec.from_json({"$text": "YQBi"}) == "a\x00b"
    lookalike = {"$bytes": "not a marker"}
    assert codec.from_json(msgspec.json.decode(msgspec.json.encode(codec.to_json(lookalike)))) == lookalike


def test_select_keeps_requested_fields_that_exist() -> None:
    assert codec.select({"a": 1, "b": 2}, ["b", "zz"]) == {"b": 2}
    assert codec.select({"a": 1}, None) == {"a": 1}


class User(msgspec.Struct):
    name: str
    age: int


def test_result_accessors() -> None:
    result = Result([{"n": 1, "m": 2}, {"n": 3, "m": 4}], affected=2)
    assert result.first() == {"n": 1, "m": 2} and result.scalar() == 1 and len(result) == 2
    with pytest.raises(OpError, match="exactly one row, got 2"):
        result.one()
    assert Result().scalar() is None and Result().first() is None


def test_result_as_converts_and_validates_rows() -> None:
    assert Result([{"name": "Ada", "age": "36"}]).as_(User) == [User("Ada", 36)]
    with pytest.raises(OpError, match="do not fit User.*age"):
        Result([{"name": "Ada", "age": "old"}]).as_(User)


def test_result_json_form_encodes_bytes() -> None:
    data = msgspec.json.encode(Result([{"b": b"\x01"}], affected=1).to_builtins())
    assert msgspec.json.decode(data) == {"rows": [{"b": "AQ=="}], "affected": 1}


def check(status: Status, required: bool = True) -> Health:
    return Health(source="s", backend="b", status=status, required=required)


@pytest.mark.parametrize(
    ("checks", "status", "ready"),
    [
        ([check(Status.UP), check(Status.UP)], Status.UP, True),
        ([check(Status.UP), check(Status.DOWN, required=False)], Status.DEGRADED, True),
        ([check(Status.UP), check(Status.DOWN)], Status.DOWN, False),
        ([check(Status.DEGRADED), check(Status.UNKNOWN)], Status.DEGRADED, True),
        ([check(Status.UP), check(Status.UNKNOWN)], Status.UNKNOWN, True),
        ([], Status.UNKNOWN, True),
    ],
)
def test_aggregate_keeps_worst_status_and_readiness_follows_required(
    checks: list[Health], status: Status, ready: bool
) -> None:
    report = aggregate(checks)
    assert report.status is status and report.ready is ready
