"""``async_hub.partitioned(name)``: cross-partition queries on the async hub.

The plan (which partitions can match, the pushed-down query) and the merge (global order, offset,
limit) are the sync hub's own pure functions (:func:`dbplex.partition.scatter.plan`); only the
listing and the per-partition reads are awaited, concurrently on the loop, each on a connection
of the source's asyncio pool, through the backend's ``dbplex_async_partition`` reader.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbplex.aio.endpoint import AsyncEndpoint
from dbplex.partition.api import ConditionLike, Partitioned
from dbplex.partition.backend import AsyncPartitionReader
from dbplex.partition.model import Inventory, Partition
from dbplex.partition.query import PartitionQuery
from dbplex.partition.scatter import ScatterResult, plan
from dbplex.partition.spec import PartitionSpec


class AsyncPartitioned:
    """One partitioned target, queried from asyncio: :meth:`query` and :meth:`run` as on
    :class:`dbplex.partition.Partitioned`, awaited. Maintenance (``apply``, ``maintain``) and
    inserts stay on the sync hub."""

    #: a :class:`PartitionQuery` from :meth:`query`'s arguments, for :meth:`run`.
    build = staticmethod(Partitioned.build)

    def __init__(self, spec: PartitionSpec, reader: AsyncPartitionReader, endpoint: AsyncEndpoint) -> None:
        self.spec = spec
        self.reader = reader
        self._endpoint = endpoint

    def __repr__(self) -> str:
        return f"AsyncPartitioned({self.spec.label!r}, source={self.spec.source!r}, target={self.spec.target!r})"

    async def listing(self) -> Inventory:
        """The partitions a query reads, from the catalog alone (one listing can serve many
        :meth:`run` calls while no maintenance runs)."""
        async with (await self._endpoint.open()).connection() as conn:
            return await self.reader.listing(conn, self.spec)

    async def query(self, *where: ConditionLike, **options: Any) -> ScatterResult:
        """Rows matching every condition, in global order: the arguments (``equal``, ``order_by``,
        ``limit``, ``offset``, ``fields``) and the result of :meth:`dbplex.partition.Partitioned.query`."""
        return await self.run(self.build(*where, **options))

    async def run(self, request: PartitionQuery, *, inventory: Inventory | None = None) -> ScatterResult:
        """Run a prepared :class:`PartitionQuery`, its partitions read concurrently."""
        found = inventory or await self.listing()
        planned = plan(self.spec, found, request, self.reader)
        reads = [asyncio.ensure_future(self._fetch(p, planned.pushed)) for p in planned.reads]
        try:
            streams = await asyncio.gather(*reads)
        except BaseException:  # one read failed (or the query was cancelled): the others stop, connections back
            for read in reads:
                read.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
            raise
        return planned.result(streams)

    async def _fetch(self, partition: Partition, request: PartitionQuery) -> list[dict[str, Any]]:
        async with (await self._endpoint.open()).connection() as conn:
            return await self.reader.fetch(conn, self.spec, partition, request)
