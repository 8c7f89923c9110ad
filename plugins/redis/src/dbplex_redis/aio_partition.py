"""Cross-partition reads on ``redis.asyncio``: the ``dbplex_async_partition`` hook.

The twin of :meth:`dbplex_redis.partition.RedisPartitioner.listing` and ``fetch``: the same
registry and bucket keys, one ``ZRANGE`` or ``ZRANGEBYSCORE`` each, and the same decoding,
filtering and order (:func:`dbplex_redis.partition.listed`, :func:`~dbplex_redis.partition.bucket_rows`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import redis.asyncio

from dbplex.backends import Source
from dbplex.errors import DbplexError
from dbplex.partition import Inventory, Partition, PartitionQuery, PartitionSpec
from dbplex_redis import partition_keys as keys
from dbplex_redis.errors import translate
from dbplex_redis.partition import bucket_rows, listed

Client = redis.asyncio.Redis


class AsyncRedisPartitionReader:
    """Lists and reads the buckets of Redis key families under asyncio."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.prefix: str = source.options.prefix

    async def listing(self, conn: Client, spec: PartitionSpec) -> Inventory:
        """The registry's partitions, for queries: one ``ZRANGE``."""
        name = keys.registry(spec, self.prefix)
        return listed(spec, name, await self._run(conn, f"reading {name}", conn.zrange(name, 0, -1)))

    async def fetch(
        self, conn: Client, spec: PartitionSpec, partition: Partition, query: PartitionQuery
    ) -> list[dict[str, Any]]:
        """The bucket's rows in the key's score range, filtered, ordered and limited here."""
        name = keys.bucket(spec, partition, self.prefix)
        low, high = keys.score_range(spec, query.where)
        return bucket_rows(await self._run(conn, f"reading {name}", conn.zrangebyscore(name, low, high)), query)

    def remainder(self, spec: PartitionSpec, value: Any) -> int | None:
        """The hash bucket of a key value, for pruning, as the sync partitioner answers it."""
        return None if spec.colocate else keys.remainder(spec, value)

    async def _run(self, conn: Client, doing: str, reply: Awaitable[Any]) -> Any:
        try:
            return await reply
        except redis.exceptions.RedisError as exc:
            if isinstance(exc, DbplexError):
                raise
            raise translate(self.source, conn, exc, doing) from exc  # type: ignore[arg-type]
