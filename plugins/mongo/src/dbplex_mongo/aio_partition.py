"""Cross-partition reads on ``AsyncMongoClient``: the ``dbplex_async_partition`` hook.

The reads are the sync partitioner's (:mod:`dbplex_mongo.partition_read`: the same listing, the
same finds, the same order); this module answers their steps with ``AsyncDatabase``'s calls on
the connection the async hub lends. An ``auto`` spec is read under the layout the database holds:
the reader never probes for time-series collections (the probe creates one), so a database
holding neither a time series nor period collections for the spec lists no partitions.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from dbplex.backends import Source
from dbplex.partition import Inventory, Partition, PartitionQuery, PartitionSpec
from dbplex.steps import adrive
from dbplex_mongo import errors
from dbplex_mongo import partition_read as read
from dbplex_mongo.partition_layout import LayoutChoice

Database = AsyncDatabase[dict[str, Any]]


class AsyncMongoPartitionReader:
    """Lists and reads the partitions of MongoDB specs under asyncio."""

    def __init__(self, source: Source) -> None:
        self.source = source
        #: the layout each ``auto`` spec was found to have, by label (``fetch`` may run without listing).
        self._chosen: dict[str, LayoutChoice] = {}

    async def listing(self, conn: Database, spec: PartitionSpec) -> Inventory:
        """As :meth:`dbplex_mongo.partition.MongoPartitioner.listing`."""
        return await self._read(conn, read.listing(spec, await self._read(conn, read.layout_of(spec, self._chosen))))

    async def fetch(
        self, conn: Database, spec: PartitionSpec, partition: Partition, query: PartitionQuery
    ) -> list[dict[str, Any]]:
        """As :meth:`dbplex_mongo.partition.MongoPartitioner.fetch`."""
        layout_name = await self._read(conn, read.layout_of(spec, self._chosen))
        return await self._read(conn, read.fetch(spec, layout_name, partition, query))

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """As the sync partitioner answers it: 0 for hash specs (one collection), else None."""
        return read.remainder(spec, value)

    async def _read(self, conn: Database, steps: read.Steps[read.T]) -> read.T:
        """Run a read of :mod:`dbplex_mongo.partition_read`, its steps awaited on ``conn``."""
        db = conn.with_options(codec_options=read.UTC)
        return await adrive(steps, partial(self._answer, db))

    async def _answer(self, db: Database, step: read.Step) -> Any:
        """What ``AsyncDatabase`` answers to a step, pymongo's errors translated as the sync partitioner's."""
        try:
            if isinstance(step, read.Find):
                cursor = db[step.collection].find(step.filter, step.projection)
                if step.sort:
                    cursor = cursor.sort(step.sort)
                return await (cursor if step.limit is None else cursor.limit(step.limit)).to_list(None)
            if isinstance(step, read.ListNames):
                return await db.list_collection_names()
            return read.by_name(await (await db.list_collections()).to_list(None))
        except errors.DRIVER_ERRORS as exc:
            raise errors.translate(self.source, exc, read.doing(step)) from exc
