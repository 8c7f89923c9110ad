"""Differential test: the same random op sequences on every backend give the same results.

With a real ``mongod`` all three backends take the whole value domain. The ``nx-27017``
stand-in has bugs of its own (replacing a document that holds binary fails; ``$set`` stores a
top-level bool as 1/0, rounds floats to 15 digits, and ignores non-ASCII field names), so
against it MongoDB runs a second test on the domain it keeps exactly, while PostgreSQL and
Redis still take the whole domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dbplex
from dbplex import Delete, Get, Op, Put, Scan, Update

TABLE = "dbplex_differential"
KEYS = ["a", "b", "ba", "c", "é", "z9", "日本"]
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def op_strategy(*, stand_in_safe: bool) -> st.SearchStrategy[Op]:
    """Uniform ops over a few keys; ``stand_in_safe`` keeps to what nx-27017 stores exactly."""
    field_names = st.sampled_from(["f1", "f2", "name"] if stand_in_safe else ["f1", "f2", "name", "ß"])
    scalars = (
        st.none()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    )
    if not stand_in_safe:
        scalars = scalars | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.binary(max_size=12)
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet="abcxyz", min_size=1, max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    )
    records = st.dictionaries(field_names, values, max_size=3)
    keys = st.sampled_from(KEYS)
    fields = st.none() | st.lists(field_names, min_size=1, max_size=3, unique=True)
    return st.one_of(
        st.builds(Put, st.just(TABLE), keys, records),
        st.builds(Update, st.just(TABLE), keys, records.filter(bool)),
        st.builds(Delete, st.just(TABLE), keys),
        st.builds(Get, st.just(TABLE), keys, fields),
        st.builds(Scan, st.just(TABLE), st.sampled_from(["", "a", "b", "c", "zz"]), st.integers(1, 8), fields),
    )


def typed(value: Any) -> Any:
    """A comparable form that keeps types apart (in Python 1 == 1.0 == True) and ignores dict order."""
    if isinstance(value, dict):
        return ("dict", sorted((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value))  # tells -0.0 from 0.0
    return (type(value).__name__, value)


@pytest.fixture(scope="module")
def hub(dbplex_servers: Any) -> Iterator[dbplex.Hub]:
    sources = {name: {"url": dbplex_servers.url(name), "pool": {"max_size": 2}} for name in ("pg", "mongo", "redis")}
    with dbplex.open({"sources": sources}) as hub:
        yield hub


@pytest.fixture(scope="module")
def mongo_is_stand_in(hub: dbplex.Hub) -> bool:
    """Asked of the server itself: nx-27017 names its process in ``buildInfo``."""
    with hub.connection("mongo") as database:
        return bool(database.client.admin.command("buildInfo").get("process") == "nx_27017")


def replay(hub: dbplex.Hub, backends: list[str], sequence: list[Op]) -> None:
    """Run ``sequence`` on a clean table of every backend, comparing each result with the first's."""
    for name in backends:
        for key in KEYS:
            hub.execute(name, Delete(TABLE, key))
    for step, op in enumerate(sequence):
        reference, *others = [(name, hub.execute(name, op)) for name in backends]
        for name, got in others:
            expected = reference[1]
            assert typed([got.rows, got.affected]) == typed([expected.rows, expected.affected]), (
                f"step {step}: {op!r} on {name} vs {reference[0]}"
            )


@SETTINGS
@given(data=st.data())
def test_every_backend_returns_the_same_results(hub: dbplex.Hub, mongo_is_stand_in: bool, data: st.DataObject) -> None:
    backends = ["redis", "pg"] if mongo_is_stand_in else ["redis", "pg", "mongo"]
    replay(hub, backends, data.draw(st.lists(op_strategy(stand_in_safe=False), min_size=1, max_size=25), label="ops"))


@SETTINGS
@given(data=st.data())
def test_the_mongodb_stand_in_agrees_on_the_values_it_keeps(
    hub: dbplex.Hub, mongo_is_stand_in: bool, data: st.DataObject
) -> None:
    if not mongo_is_stand_in:
        pytest.skip("MongoDB is a real server here: the full-domain test covers it")
    replay(
        hub,
        ["redis", "pg", "mongo"],
        data.draw(st.lists(op_strategy(stand_in_safe=True), min_size=1, max_size=25), label="ops"),
    )
