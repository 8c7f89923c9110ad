"""Conditions of a :class:`~dbplex.partition.query.PartitionQuery` evaluated on rows in Python.

For backends that cannot filter on the server (Redis stores rows as opaque members). The
semantics follow MongoDB's and SQL's where they agree: a missing field is None; ``None == None``
holds; an ordering comparison with None, or between values of types that do not compare (a
string and a number), is false rather than an error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from dbplex.partition.query import Condition

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def holds(row: dict[str, Any], condition: Condition) -> bool:
    """Whether ``row`` satisfies one condition."""
    value = row.get(condition.field)
    if condition.op == "==":
        return bool(value == condition.value)
    if condition.op == "!=":
        return bool(value != condition.value)
    if condition.op == "in":
        return any(value == item for item in condition.value)
    if value is None or condition.value is None:
        return False
    try:
        return _ORDERING[condition.op](value, condition.value)
    except TypeError:
        return False


def matches(row: dict[str, Any], where: Sequence[Condition]) -> bool:
    """Whether ``row`` satisfies every condition (they are ANDed)."""
    return all(holds(row, condition) for condition in where)
