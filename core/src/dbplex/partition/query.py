"""What a cross-partition query asks: conditions, order, limit and offset.

The core reads the conditions on the partition key to choose which partitions can match; each
backend runs the whole query on each chosen partition (with ``limit + offset`` pushed down), and
the core merges the sorted streams into one global order before applying offset and limit.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in"]


class Condition(msgspec.Struct, frozen=True, array_like=True):
    """``field op value``; for ``in``, ``value`` is a list."""

    field: str
    op: Operator
    value: Any


class Order(msgspec.Struct, frozen=True, array_like=True):
    field: str
    direction: Literal["asc", "desc"] = "asc"


class PartitionQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A query over every partition of one spec. All conditions must hold (AND)."""

    where: list[Condition] = []
    order_by: list[Order] = []
    limit: int | None = None
    offset: int = 0
    #: fields to return; None returns whole rows.
    fields: list[str] | None = None

    def pushed_down(self) -> PartitionQuery:
        """The query each partition runs: same conditions and order, no offset, limit + offset rows."""
        limit = None if self.limit is None else self.limit + self.offset
        return msgspec.structs.replace(self, limit=limit, offset=0)
