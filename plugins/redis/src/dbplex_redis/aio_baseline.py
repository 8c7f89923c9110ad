"""The raw async-driver baseline of ``dbplex bench run --async``: ``redis.asyncio`` doing the record
ops by hand, with the same requests as the threaded baseline (:mod:`dbplex_redis.baseline`)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from dbplex.backends import Source
from dbplex_redis.baseline import Requests, _record, _scanned, _selected
from dbplex_redis.translate import MARKER, from_key


class AsyncRedisBaseline(Requests):
    """Satisfies :class:`dbplex.bench.aio_baseline.AsyncBaseline` with redis-py's asyncio client alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        super().__init__(source, pool_size, redis.asyncio, " (asyncio)")

    async def open(self) -> None:
        await self._client.ping()

    async def get(self, table: str, key: str, fields: list[str] | None) -> dict[str, Any] | None:
        record = self._keys.record(table, key)
        if fields is None:
            return _record(await self._client.hgetall(record))
        return _selected(fields, await self._client.hmget(record, [MARKER, *fields]))

    async def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        await self._put(keys=self._keys.of_write(table, key), args=self._put_args(table, key, values))

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key, values in records:
            await self._put(keys=self._keys.of_write(table, key), args=self._put_args(table, key, values), client=pipe)
        await pipe.execute()

    async def update(self, table: str, key: str, values: dict[str, Any]) -> Any:
        return await self._update(keys=self._keys.of_write(table, key), args=self._update_args(table, values, key))

    async def delete(self, table: str, key: str) -> Any:
        return await self._delete(keys=self._keys.of_write(table, key), args=[key])

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[Any]:
        members = await self._client.zrangebylex(self._keys.index(table), from_key(start_key), "+", start=0, num=limit)
        return _scanned(fields, await self._reads(table, members, fields).execute())

    async def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        found = await self.get(table, key, fields)
        await self.update(table, key, values)
        return found

    async def aclose(self) -> None:
        await self._pool.disconnect()  # the client's own pool: closing it is closing the client
