"""Cross-partition queries: key predicates, pruning and the ordered merge (pure parts).

The same properties against real databases are in test_scatter_backends.py.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbplex.errors import OpError
from dbplex.partition import Condition, Order, Partition, PartitionQuery, layout
from dbplex.partition.api import conditions, orders
from dbplex.partition.scatter import candidates, key_range, merge, normalize

from .conftest import time_spec, utc

SPEC = time_spec(interval="1 day", since="2026-11-20", premake=2, default=True)
PARTS = layout(SPEC, utc(2026, 11, 25, 12)).wanted  # 20th .. 27th, and the default


def names(parts: list[Partition]) -> list[str]:
    return [p.label for p in parts]


def pick(*where: Condition, exclusive: bool = True) -> tuple[list[str], list[str]]:
    query = normalize(SPEC, PartitionQuery(where=list(where)))
    keep, drop = candidates(SPEC, PARTS, query, default_exclusive=exclusive)
    return names(keep), names(drop)


def test_the_default_partition_is_read_unless_the_database_keeps_it_exclusive() -> None:
    day = (Condition("at", ">=", utc(2026, 11, 22)), Condition("at", "<", utc(2026, 11, 23)))
    assert pick(*day, exclusive=False)[0] == ["2026-11-22", "default"]
    assert pick(*day, exclusive=True)[0] == ["2026-11-22"]


def test_range_conditions_keep_only_partitions_that_can_match() -> None:
    keep, drop = pick(Condition("at", ">=", "2026-11-22T00:00:00+00:00"), Condition("at", "<", utc(2026, 11, 24)))
    assert keep == ["2026-11-22", "2026-11-23"]  # and the default is pruned: the range is covered
    assert "default" in drop
    keep, _ = pick(Condition("at", ">", utc(2026, 11, 22)))
    assert keep == ["2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "default"]
    keep, _ = pick(Condition("at", "<=", utc(2026, 11, 21)))
    assert keep == ["2026-11-20", "2026-11-21", "default"]
    keep, _ = pick(Condition("at", "<", utc(2026, 11, 21)))
    assert keep == ["2026-11-20", "default"]


def test_equality_and_in_pin_partitions() -> None:
    keep, _ = pick(Condition("at", "==", utc(2026, 11, 23, 5)))
    assert keep == ["2026-11-23"]
    keep, _ = pick(Condition("at", "in", [utc(2026, 11, 21, 1), utc(2026, 11, 26, 2), utc(2030, 1, 1)]))
    assert keep == ["2026-11-21", "2026-11-26", "default"]  # 2030 can only be in the default
    keep, _ = pick(Condition("at", "in", [utc(2026, 11, 21, 1)]), Condition("at", ">", utc(2026, 11, 22)))
    assert keep == []  # contradictory: nothing can match


def test_conditions_on_other_fields_do_not_prune() -> None:
    keep, drop = pick(Condition("status", "==", "final"))
    assert len(keep) == len(PARTS) and drop == []


def test_list_partitions_prune_by_values() -> None:
    spec = time_spec(
        interval=None, strategy="list", key="region", lists={"eu": ["de", "fr"], "us": ["us"], "jp": ["jp"]}
    )
    parts = layout(spec, utc(2026, 1, 1)).wanted
    keep, _ = candidates(spec, parts, PartitionQuery(where=[Condition("region", "in", ["fr", "jp"])]))
    assert names(keep) == ["eu", "jp"]
    keep, _ = candidates(spec, parts, PartitionQuery(where=[Condition("region", "!=", "us")]))
    assert names(keep) == ["eu", "jp"]
    keep, _ = candidates(spec, parts, PartitionQuery(where=[Condition("region", ">=", "f")]))
    assert names(keep) == ["eu", "jp", "us"]


def test_hash_partitions_are_all_scanned_unless_the_backend_routes() -> None:
    spec = time_spec(interval=None, strategy="hash", modulus=4, key="id", premake=0)
    parts = layout(spec, utc(2026, 1, 1)).wanted
    query = PartitionQuery(where=[Condition("id", "in", [5, 9])])
    keep, _ = candidates(spec, parts, query)
    assert len(keep) == 4

    class Router:
        def remainder(self, spec: object, value: int) -> int:
            return value % 4

    keep, drop = candidates(spec, parts, query, Router())
    assert names(keep) == ["h1"] and names(drop) == ["h0", "h2", "h3"]


def test_key_range_folds_bounds() -> None:
    found = key_range(SPEC, [Condition("at", ">", 3), Condition("at", ">=", 5), Condition("at", "<", 9)])
    assert (found.low, found.low_inclusive, found.high, found.high_inclusive) == (5, True, 9, False)
    assert key_range(SPEC, [Condition("at", ">", 5), Condition("at", "<=", 5)]).empty


Row = dict[str, Any]
values = st.one_of(st.none(), st.integers(-5, 5))
rows_strategy = st.lists(
    st.fixed_dictionaries({"k": st.integers(0, 99), "a": values, "b": st.sampled_from(["x", "y", "z"])}),
    max_size=60,
)


def reference(rows: list[Row], query: PartitionQuery) -> list[Row]:
    """The same query on one unpartitioned list: sort by each order field (None greatest), slice."""
    result = list(rows)
    for order in reversed(query.order_by):
        present = [r for r in result if r.get(order.field) is not None]
        missing = [r for r in result if r.get(order.field) is None]
        present.sort(key=lambda r: r[order.field], reverse=order.direction == "desc")
        result = present + missing if order.direction == "asc" else missing + present
    stop = None if query.limit is None else query.offset + query.limit
    return result[query.offset : stop]


@given(
    rows=rows_strategy,
    cuts=st.lists(st.integers(0, 99), max_size=5),
    order=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["asc", "desc"])), min_size=1, max_size=2),
    limit=st.one_of(st.none(), st.integers(0, 20)),
    offset=st.integers(0, 10),
)
def test_merge_equals_sorting_the_unpartitioned_rows(
    rows: list[Row], cuts: list[int], order: list[tuple[str, str]], limit: int | None, offset: int
) -> None:
    # a total order: the unique key breaks ties, as a test against a real table must
    query = PartitionQuery(
        order_by=[*(Order(f, d) for f, d in order), Order("k")],  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )
    unique = list({r["k"]: r for r in rows}.values())
    bounds = sorted({0, 100, *cuts})
    pushed = query.pushed_down()
    streams = []
    for lower, upper in itertools.pairwise(bounds):
        # what each partition returns: its rows in order, limit + offset of them
        streams.append(reference([r for r in unique if lower <= r["k"] < upper], pushed))
    assert merge(streams, query) == reference(unique, query)


def test_merge_refuses_mixed_types_in_an_order_field() -> None:
    with pytest.raises(OpError, match="cannot order int 1 against str 'x'"):
        merge([[{"a": 1}], [{"a": "x"}]], PartitionQuery(order_by=[Order("a")]))


def test_friendly_query_arguments() -> None:
    assert conditions([("a", "=", 1), ("b", "in", (1, 2))], {"c": "x"}) == [
        Condition("a", "==", 1),
        Condition("b", "in", [1, 2]),
        Condition("c", "==", "x"),
    ]
    assert orders(["-at", "id", ("b", "desc")]) == [Order("at", "desc"), Order("id"), Order("b", "desc")]
    with pytest.raises(OpError, match="operator 'like'"):
        conditions([("a", "like", "x%")])
    with pytest.raises(OpError, match="is not an ISO date"):
        normalize(SPEC, PartitionQuery(where=[Condition("at", ">", "yesterday")]))
    assert isinstance(
        normalize(SPEC, PartitionQuery(where=[Condition("at", ">", "2026-11-01")])).where[0].value, datetime
    )
