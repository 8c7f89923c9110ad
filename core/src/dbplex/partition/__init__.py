"""Partitioning: one spec for time, list and hash partitions on every backend.

See ``docs/partitioning.md``. A backend provides a :class:`Partitioner` from its
``dbplex_partition(source)`` hook; the core computes layouts and plans and merges queries.
"""

from dbplex.partition.backend import Partitioner
from dbplex.partition.interval import Interval
from dbplex.partition.layout import Layout, fixed_partitions, layout, partition_for
from dbplex.partition.model import Action, Existing, Inventory, Partition
from dbplex.partition.query import Condition, Order, PartitionQuery
from dbplex.partition.spec import PartitionSpec

__all__ = [
    "Action",
    "Condition",
    "Existing",
    "Interval",
    "Inventory",
    "Layout",
    "Order",
    "Partition",
    "PartitionQuery",
    "PartitionSpec",
    "Partitioner",
    "fixed_partitions",
    "layout",
    "partition_for",
]
