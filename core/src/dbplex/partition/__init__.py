"""Partitioning: one spec for time, list and hash partitions on every backend.

See ``docs/partitioning.md``. A backend provides a :class:`Partitioner` from its
``dbplex_partition(source)`` hook; the core computes layouts and plans and merges queries.
"""

from typing import TYPE_CHECKING, Any

from dbplex.partition.backend import Partitioner
from dbplex.partition.errors import (
    ActionFailed,
    KeyOutOfRange,
    MaintenanceBusy,
    MaintenanceLockLost,
    PartitionError,
    PlanError,
)
from dbplex.partition.interval import Interval
from dbplex.partition.layout import Layout, far_future, fixed_partitions, layout, partition_for
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.planner import Plan, plan
from dbplex.partition.query import Condition, Order, PartitionQuery
from dbplex.partition.scatter import ScatterResult
from dbplex.partition.spec import PartitionSpec

if TYPE_CHECKING:
    from dbplex.partition.api import Partitioned

#: modules that import the migration engine (and through it the hub and the configuration),
#: loaded on first use so that ``dbplex.config`` can import the spec without a cycle.
_LAZY = {"Partitioned": "dbplex.partition.api"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dbplex.partition' has no attribute {name!r}")


__all__ = [
    "Action",
    "ActionFailed",
    "Condition",
    "Existing",
    "Interval",
    "Inventory",
    "KeyOutOfRange",
    "Layout",
    "MaintenanceBusy",
    "MaintenanceLockLost",
    "Order",
    "Partition",
    "PartitionError",
    "PartitionQuery",
    "PartitionSpec",
    "Partitioned",
    "Partitioner",
    "Plan",
    "PlanError",
    "ScatterResult",
    "far_future",
    "fixed_partitions",
    "layout",
    "partition_for",
    "plan",
]
