"""Differential test: the same random op sequences on every backend give the same results.

With a real ``mongod`` all three backends take the whole value domain. The ``nx-27017``
stand-in has bugs of its own (replacing a document that holds binary fails; ``$set`` stores a
top-level bool as 1/0, rounds floats to 15 digits, and ignores non-ASCII field names), so
against it MongoDB runs a second test on the domain it keeps exactly, while PostgreSQL and
Redis still take the whole domain.

The strategies reach the edges of the value domain (:mod:`dbplex.values`): the ends of the
64-bit range, the largest and smallest floats, values nested as deep as allowed and keys as
long as allowed (random bytes, which PostgreSQL's index cannot compress). One step past each
edge is refused alike by every backend, before any of them sees it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dbplex
from dbplex import Delete, Get, InvalidValue, Op, Put, Scan, Update, ops
from dbplex.values import INT_MAX, INT_MIN, MAX_DEPTH, MAX_KEY_BYTES

TABLE = "dbplex_differential"
EDGE_TABLE = "dbplex_differential_edges"
_noise = random.Random(63)
#: keys of exactly MAX_KEY_BYTES bytes: ASCII, two-byte, three-byte (+ padding) and random letters.
LONG_KEYS = [
    "k" * MAX_KEY_BYTES,
    "é" * (MAX_KEY_BYTES // 2),
    "日" * (MAX_KEY_BYTES // 3) + "z" * (MAX_KEY_BYTES % 3),
    "".join(
        _noise.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(MAX_KEY_BYTES)
    ),
]
KEYS = ["a", "b", "ba", "c", "é", "z9", "日本", *LONG_KEYS]
EDGE_INTS = [INT_MIN, INT_MIN + 1, -(2**53) - 1, 2**53 + 1, INT_MAX - 1, INT_MAX]
EDGE_FLOATS = [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308, 2.0**63, 1e16]
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def op_strategy(*, stand_in_safe: bool) -> st.SearchStrategy[Op]:
    """Uniform ops over a few keys; ``stand_in_safe`` keeps to what nx-27017 stores exactly."""
    field_names = st.sampled_from(["f1", "f2", "name"] if stand_in_safe else ["f1", "f2", "name", "ß"])
    scalars = (
        st.none()
        | st.integers(min_value=INT_MIN, max_value=INT_MAX)
        | st.sampled_from(EDGE_INTS)
        | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    )
    if not stand_in_safe:
        scalars = (
            scalars
            | st.booleans()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from(EDGE_FLOATS)
            | st.binary(max_size=12)
        )
    dict_keys = st.text(alphabet="abcxyz", min_size=1, max_size=3)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(dict_keys, inner, max_size=3),
        max_leaves=6,
    )
    values = values | st.builds(nested, scalars, st.lists(st.booleans(), min_size=MAX_DEPTH - 2, max_size=MAX_DEPTH))
    records = st.dictionaries(field_names, values, max_size=3)
    keys = st.sampled_from(KEYS)
    fields = st.none() | st.lists(field_names, min_size=1, max_size=3, unique=True)
    return st.one_of(
        st.builds(Put, st.just(TABLE), keys, records),
        st.builds(Update, st.just(TABLE), keys, records.filter(bool)),
        st.builds(Delete, st.just(TABLE), keys),
        st.builds(Get, st.just(TABLE), keys, fields),
        st.builds(
            Scan, st.just(TABLE), st.sampled_from(["", "a", "b", "c", "zz", *LONG_KEYS]), st.integers(1, 8), fields
        ),
    )


def nested(leaf: Any, in_dicts: list[bool]) -> Any:
    """``leaf`` inside ``len(in_dicts)`` containers, each a dict (True) or a list (False)."""
    for in_dict in in_dicts:
        leaf = {"d": leaf} if in_dict else [leaf]
    return leaf


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


#: one step past each edge of the domain: (what, key, values).
BEYOND_EDGES = [
    ("int above 2**63-1", "edge", {"f": INT_MAX + 1}),
    ("int below -2**63", "edge", {"f": [INT_MIN - 1]}),
    ("infinite float", "edge", {"f": {"x": float("inf")}}),
    ("NaN", "edge", {"f": float("nan")}),
    ("nesting one level too deep", "edge", {"f": nested(1, [True, False] * (MAX_DEPTH // 2) + [False])}),
    ("key one ASCII byte too long", "k" * (MAX_KEY_BYTES + 1), {"f": 1}),
    ("key one UTF-8 byte too long", "é" * (MAX_KEY_BYTES // 2) + "z", {"f": 1}),
    ("lone surrogate", "edge", {"f": "\ud800"}),
    ("nested key starting with $", "edge", {"f": {"$set": 1}}),
    ("set", "edge", {"f": {1, 2}}),
]
#: exactly at each edge: every backend stores these and reads them back unchanged.
AT_EDGES = {
    "ints": [INT_MIN, INT_MAX],
    "floats": [1.7976931348623157e308, -5e-324],
    "deep_lists": nested("leaf", [False] * MAX_DEPTH),
    "deep_mixed": nested(INT_MAX, [True, False] * (MAX_DEPTH // 2)),
}


@pytest.mark.parametrize(("what", "key", "values"), BEYOND_EDGES, ids=[case[0] for case in BEYOND_EDGES])
def test_one_step_past_each_edge_is_refused_alike_and_changes_nothing(
    hub: dbplex.Hub, what: str, key: str, values: dict[str, Any]
) -> None:
    backends = ["redis", "pg", "mongo"]
    for name in backends:
        hub.execute(name, Put(EDGE_TABLE, "edge", {"f": "before"}))
    messages = set()
    for name in backends:
        for op_type in (Put, Update):
            with pytest.raises(InvalidValue) as refused:
                hub.execute(name, op_type(EDGE_TABLE, key, values))
            messages.add(str(refused.value))
    assert len(messages) == 1, messages
    for name in backends:
        assert hub.execute(name, Get(EDGE_TABLE, "edge")).one()["values"] == {"f": "before"}, name


def test_json_past_the_edges_is_refused_by_the_decoder_too() -> None:
    for text, rule in [
        ('{"f": 9223372036854775808}', "64-bit signed range"),
        ('{"f": -9223372036854775809}', "64-bit signed range"),
        ('{"f": 100000000000000000000000000000}', "64-bit signed range"),
        ('{"f": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "nested too deeply"),
        ('{"f": ' + "[" * 5000 + "]" * 5000 + "}", f"at most {MAX_DEPTH}"),
    ]:
        with pytest.raises(InvalidValue, match=rule):
            ops.decode(f'{{"op": "put", "table": "t", "key": "k", "values": {text}}}')
    with pytest.raises(InvalidValue, match=f"keys are at most {MAX_KEY_BYTES}"):
        ops.decode(f'{{"op": "get", "table": "t", "key": "{"k" * (MAX_KEY_BYTES + 1)}"}}')


def test_values_at_each_edge_round_trip_on_every_backend(hub: dbplex.Hub) -> None:
    backends = ["redis", "pg", "mongo"]
    for key in LONG_KEYS:
        for name in backends:
            hub.execute(name, Put(EDGE_TABLE, key, AT_EDGES))
            got = hub.execute(name, Get(EDGE_TABLE, key)).one()
            assert typed(got) == typed({"key": key, "values": AT_EDGES}), (name, key[:10])
