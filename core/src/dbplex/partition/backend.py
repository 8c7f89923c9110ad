"""What a backend plugin provides for partitioning: a :class:`Partitioner` per source.

A plugin's ``dbplex_partition(source)`` hook returns one. The core owns the spec, the layout
(which partitions should exist now), the plan (what to create, retire or finish), the
maintenance lock's use and the merge of cross-partition queries; the partitioner knows its
database: what exists, the exact commands, how to run them, and how to read one partition.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

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

    def inspect(self, spec: PartitionSpec, *, now: datetime | None = None) -> Inventory:
        """What the database holds for ``spec`` now, and any actions only the backend can see are
        needed (finish an interrupted detach, create a time-series collection, ...).

        ``now`` is the moment the caller plans for (``--now``); a backend that needs the clock to
        judge what it found (a horizon, a retention window, which partitions are wanted) uses it,
        and its own clock only when it is None. The core always passes it by keyword.
        """
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
        """Run ``query`` (already pushed down: no offset) on one partition, rows in ``query.order_by``
        *as the core orders them* (Python's ``<``: text by code point, ``None`` last ascending), so
        that the ``limit`` cut keeps the rows the global merge needs. Called from several threads
        at once."""
        ...

    def explain(self, spec: PartitionSpec, query: PartitionQuery) -> str | None:
        """The database's own plan for ``query`` over the whole target (PostgreSQL ``EXPLAIN``
        shows pruning), or None where there is no such thing."""
        ...

    def close(self) -> None:
        """Close every connection it opened."""
        ...


class Listing(Protocol):
    """Optional for a partitioner: the partitions of ``spec`` from the catalog alone, for queries.

    A cross-partition query needs only which partitions exist, their state, and whether the
    default partition is exclusive (``Inventory.partitions`` and ``default_exclusive``) — not row
    counts, misplaced rows or proposed actions. When the partitioner has this method,
    :meth:`Partitioned.query` and ``explain`` use it; otherwise they call :meth:`Partitioner.inspect`.
    """

    def listing(self, spec: PartitionSpec) -> Inventory:
        """An :class:`Inventory` with ``partitions`` (rows may be None), ``ready``/``problem`` and
        ``default_exclusive`` filled in; nothing that needs a scan."""
        ...


class AsyncPartitionReader(Protocol):
    """What a plugin's ``dbplex_async_partition(source)`` hook returns: the reads of a
    cross-partition query on the async hub (``await async_hub.partitioned(name).query(...)``).

    The core plans and merges as for the sync hub (:func:`dbplex.partition.scatter.plan`) and lends
    each call a connection of the source's asyncio pool (``conn``: what ``AsyncPool.connection()``
    yields), so that a cancelled query gives every one back. The reader answers what
    :meth:`Listing.listing` and :meth:`Partitioner.fetch` answer, with the same rows and errors; a
    ``remainder`` method (:class:`HashRouting`) prunes hash partitions. Maintenance stays on the sync hub.
    """

    async def listing(self, conn: Any, spec: PartitionSpec) -> Inventory:
        """As :meth:`Listing.listing`: the partitions of ``spec`` from the catalog alone."""
        ...

    async def fetch(
        self, conn: Any, spec: PartitionSpec, partition: Partition, query: PartitionQuery
    ) -> list[dict[str, Any]]:
        """As :meth:`Partitioner.fetch`; awaited concurrently, one connection each, for the
        partitions of one query."""
        ...


class HashRouting(Protocol):
    """Optional for a partitioner: which hash partition a key value lands in, so that a query
    pinning the key with ``==`` / ``in`` reads only those (the scatter looks for this method)."""

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """The remainder (``Partition.remainder``) of the partition holding ``value``; None when unknown."""
        ...


def inspect_at(partitioner: Partitioner, spec: PartitionSpec, now: datetime | None) -> Inventory:
    """``partitioner.inspect(spec, now=now)``; a partitioner written before ``now`` was part of the
    protocol (its ``inspect`` takes no ``now``) is called without it and uses its own clock."""
    method = partitioner.inspect
    if _takes_now(method):
        return method(spec, now=now)
    return method(spec)


def insert_at(partitioner: Partitioner, spec: PartitionSpec, rows: list[dict[str, Any]], now: datetime | None) -> int:
    """``partitioner.insert(spec, rows, now=now)`` when its ``insert`` takes ``now`` (the moment
    that judges the retention window, as for :func:`inspect_at`); else without it."""
    method = partitioner.insert
    if now is not None and _takes_now(method):
        found: int = method(spec, rows, now=now)  # type: ignore[call-arg]
        return found
    return method(spec, rows)


def partitions_for_query(partitioner: Partitioner, spec: PartitionSpec) -> Inventory:
    """What a query needs to know: :meth:`Listing.listing` when the partitioner has it, else ``inspect``."""
    listing = getattr(partitioner, "listing", None)
    if callable(listing):
        found: Inventory = cast("Listing", partitioner).listing(spec)
        return found
    return partitioner.inspect(spec)


def hash_routing(partitioner: object) -> HashRouting | None:
    """The partitioner as :class:`HashRouting` when it has ``remainder``, else None."""
    return cast("HashRouting", partitioner) if callable(getattr(partitioner, "remainder", None)) else None


def _takes_now(method: Any) -> bool:
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return True
    return "now" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
