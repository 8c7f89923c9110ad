"""What a backend plugin provides for partitioning: a :class:`Partitioner` per source.

A plugin's ``dbplex_partition(source)`` hook returns one. The core owns the spec, the layout
(which partitions should exist now), the plan (what to create, retire or finish), the
maintenance lock's use and the merge of cross-partition queries; the partitioner knows its
database: what exists, the exact commands, how to run them, and how to read one partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from dbplex.partition.model import Action, Inventory, Partition
from dbplex.partition.query import PartitionQuery
from dbplex.partition.spec import PartitionSpec

if TYPE_CHECKING:  # at run time this would import dbplex.migrate, which imports the hub and the config
    from dbplex.migrate.locking import Lock, LockOwner


class Partitioner(Protocol):
    """One source's partitioning backend. Connections open on first need; :meth:`close` closes them."""

    def validate(self, spec: PartitionSpec) -> list[str]:
        """What this database cannot do with ``spec`` (e.g. a unique key without the partition
        key on PostgreSQL); an empty list when it can. No I/O."""
        ...

    def lock(self, spec: PartitionSpec, owner: LockOwner) -> Lock:
        """The maintenance lock for ``spec`` (not yet taken), so that hosts running ``maintain``
        at once take turns."""
        ...

    def inspect(self, spec: PartitionSpec) -> Inventory:
        """What the database holds for ``spec`` now, and any actions only the backend can see are
        needed (finish an interrupted detach, create a time-series collection, ...)."""
        ...

    def render(self, spec: PartitionSpec, action: Action) -> Action:
        """``action`` with ``commands`` filled in: exactly what :meth:`apply` will send. No I/O."""
        ...

    def apply(self, spec: PartitionSpec, action: Action) -> None:
        """Carry out one rendered action. Idempotent: an action already done is not an error."""
        ...

    def insert(self, spec: PartitionSpec, rows: Iterable[dict[str, Any]]) -> int:
        """Write rows where they belong (the parent table, the period's collection, the bucket's
        key); return how many were written. Rows whose partition does not exist are refused."""
        ...

    def fetch(self, spec: PartitionSpec, partition: Partition, query: PartitionQuery) -> list[dict[str, Any]]:
        """Run ``query`` (already pushed down: no offset) on one partition, rows in ``query.order_by``."""
        ...

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str | None:
        """The database's own plan for ``query`` over the whole target (PostgreSQL ``EXPLAIN``
        shows pruning), or None where there is no such thing."""
        ...

    def close(self) -> None:
        """Close every connection it opened."""
        ...


class HashRouting(Protocol):
    """Optional for a partitioner: which hash partition a key value lands in, so that a query
    pinning the key with ``==`` / ``in`` reads only those (the scatter looks for this method)."""

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """The remainder (``Partition.remainder``) of the partition holding ``value``; None when unknown."""
        ...
