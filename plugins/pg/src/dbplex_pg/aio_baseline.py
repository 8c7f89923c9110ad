"""The raw async-driver baseline of ``dbplex bench run --async``: psycopg's ``AsyncConnectionPool``
doing the record ops by hand, with the same SQL as the threaded baseline (:mod:`dbplex_pg.baseline`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from dbplex.backends import Source
from dbplex_pg.baseline import Tables, _fields, psycopg_pool_module

if TYPE_CHECKING:
    import psycopg_pool


class AsyncPgBaseline(Tables):
    """Satisfies :class:`dbplex.bench.aio_baseline.AsyncBaseline` with psycopg alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        super().__init__(source, pool_size, " (asyncio)")
        self._source = source
        self._pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]] = (
            psycopg_pool_module().AsyncConnectionPool(source.url, **self._pool_kwargs)
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=self._source.config.connect_timeout)

    async def get(self, table: str, key: str, fields: list[str] | None) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(self._sql(table).get, (key,))).fetchone()
        return None if row is None else _fields(row[0], fields)

    async def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(self._sql(table).put, (key, Jsonb(values)))

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        async with self._pool.connection() as conn, conn.cursor() as cursor:
            await cursor.executemany(self._sql(table).put, [(key, Jsonb(values)) for key, values in records])

    async def update(self, table: str, key: str, values: dict[str, Any]) -> int:
        async with self._pool.connection() as conn:
            return (await conn.execute(self._sql(table).update, (Jsonb(values), key))).rowcount

    async def delete(self, table: str, key: str) -> int:
        async with self._pool.connection() as conn:
            return (await conn.execute(self._sql(table).delete, (key,))).rowcount

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[tuple[str, Any]]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(self._sql(table).scan, (start_key, limit))).fetchall()
        return [(key, _fields(data, fields)) for key, data in rows]

    async def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        queries = self._sql(table)
        async with self._pool.connection() as conn:
            row = await (await conn.execute(queries.get, (key,))).fetchone()
            await conn.execute(queries.update, (Jsonb(values), key))
        return None if row is None else _fields(row[0], fields)

    async def aclose(self) -> None:
        await self._pool.close()
