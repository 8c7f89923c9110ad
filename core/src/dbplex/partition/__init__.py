"""Partitioning: one spec for time, list and hash partitions on every backend.

See ``docs/partitioning.md``. A backend provides a :class:`Partitioner` from its
``dbplex_partition(source)`` hook; the core computes layouts and plans and merges queries.
"""

import importlib
from typing import TYPE_CHECKING, Any

# eager: the function ``layout`` must win over the submodule of that name, as it would not if
# the submodule were imported first and the function looked up lazily (cheap: no dependencies)
from dbplex.partition.layout import Layout, far_future, fixed_partitions, layout, partition_for

if TYPE_CHECKING:
    from dbplex.partition.api import Partitioned
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
    from dbplex.partition.model import Action, Existing, Inventory, Partition
    from dbplex.partition.planner import Plan, plan
    from dbplex.partition.query import Condition, Order, PartitionQuery
    from dbplex.partition.scatter import ScatterResult
    from dbplex.partition.spec import PartitionSpec

#: where each name lives, imported on first use: ``dbplex.config`` needs only the spec, and
#: the planner, scatter and API modules (the last imports the migration engine, and through it
#: the hub and the configuration) would cost every ``import dbplex`` their start-up time.
_LAZY = {
    "Partitioner": "dbplex.partition.backend",
    "ActionFailed": "dbplex.partition.errors",
    "KeyOutOfRange": "dbplex.partition.errors",
    "MaintenanceBusy": "dbplex.partition.errors",
    "MaintenanceLockLost": "dbplex.partition.errors",
    "PartitionError": "dbplex.partition.errors",
    "PlanError": "dbplex.partition.errors",
    "Interval": "dbplex.partition.interval",
    "Action": "dbplex.partition.model",
    "Existing": "dbplex.partition.model",
    "Inventory": "dbplex.partition.model",
    "Partition": "dbplex.partition.model",
    "Plan": "dbplex.partition.planner",
    "plan": "dbplex.partition.planner",
    "Condition": "dbplex.partition.query",
    "Order": "dbplex.partition.query",
    "PartitionQuery": "dbplex.partition.query",
    "ScatterResult": "dbplex.partition.scatter",
    "PartitionSpec": "dbplex.partition.spec",
    "Partitioned": "dbplex.partition.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dbplex.partition' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


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
