"""The raw async-driver baseline of ``dbplex bench run --async``: ``redis.asyncio`` doing the record
ops by hand, with the same requests as the threaded baseline (:mod:`dbplex_redis.baseline`)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from dbplex.backends import Source
from dbplex_redis.baseline import _pairs, _record, _unpack
from dbplex_redis.options import RedisOptions
from dbplex_redis.translate import DELETE, KEYS, MARKER, PUT, UPDATE, ttl_ms


class AsyncRedisBaseline:
    """Satisfies :class:`dbplex.bench.aio_baseline.AsyncBaseline` with redis-py's asyncio client alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        self.label = f"redis-py {redis.__version__} (asyncio)"
        options: RedisOptions = source.options
        self._keys = KEYS[options.prefix]
        self._ttl = ttl_ms(options.ttl)
        self._pool = redis.asyncio.BlockingConnectionPool.from_url(
            source.url,
            max_connections=pool_size,
            timeout=source.config.pool.timeout,
            socket_connect_timeout=source.config.connect_timeout,
            protocol=3,
        )
        self._client = redis.asyncio.Redis(connection_pool=self._pool)
        self._put = self._client.register_script(PUT.text)
        self._update = self._client.register_script(UPDATE.text)
        self._delete = self._client.register_script(DELETE.text)

    async def open(self) -> None:
        await self._client.ping()

    async def get(self, table: str, key: str, fields: list[str] | None) -> dict[str, Any] | None:
        record = self._keys.record(table, key)
        if fields is None:
            whole: Any = await self._client.hgetall(record)
            return _record(whole)
        reply: Any = await self._client.hmget(record, [MARKER, *fields])
        marker, *found = reply
        if marker is None:
            return None
        return {name: _unpack(data) for name, data in zip(fields, found, strict=True) if data is not None}

    async def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        args = [key, self._ttl, self._keys.records(table), MARKER, MARKER, *_pairs(values)]
        await self._put(keys=self._keys.of_write(table, key), args=args)

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        prefix = self._keys.records(table)
        for key, values in records:
            args = [key, self._ttl, prefix, MARKER, MARKER, *_pairs(values)]
            await self._put(keys=self._keys.of_write(table, key), args=args, client=pipe)
        await pipe.execute()

    async def update(self, table: str, key: str, values: dict[str, Any]) -> Any:
        args = [key, self._ttl, self._keys.records(table), *_pairs(values)]
        return await self._update(keys=self._keys.of_write(table, key), args=args)

    async def delete(self, table: str, key: str) -> Any:
        return await self._delete(keys=self._keys.of_write(table, key), args=[key])

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[Any]:
        lower = f"[{start_key}" if start_key else "-"
        members: Any = await self._client.zrangebylex(self._keys.index(table), lower, "+", start=0, num=limit)
        pipe = self._client.pipeline(transaction=False)
        prefix = self._keys.records(table)
        for member in members:
            record = prefix + member.decode()
            if fields is None:
                pipe.hgetall(record)
            else:
                pipe.hmget(record, [MARKER, *fields])
        replies = await pipe.execute()
        if fields is None:
            return [_record(reply) for reply in replies]
        return [[_unpack(data) for data in reply[1:] if data is not None] for reply in replies]

    async def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        found = await self.get(table, key, fields)
        await self.update(table, key, values)
        return found

    async def aclose(self) -> None:
        await self._pool.disconnect()  # the client's own pool: closing it is closing the client
