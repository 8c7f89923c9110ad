"""The raw async-driver baseline of ``dbplex bench run --async``: pymongo's ``AsyncMongoClient``
doing the record ops by hand, with the same requests as the threaded baseline (:mod:`dbplex_mongo.baseline`)."""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo import AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from dbplex.backends import Source
from dbplex_mongo.baseline import Doc, _projection, client_options
from dbplex_mongo.client import database_of
from dbplex_mongo.conn import Collections


class AsyncMongoBaseline:
    """Satisfies :class:`dbplex.bench.aio_baseline.AsyncBaseline` with pymongo's asyncio client alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        self.label = f"pymongo {pymongo.version} (asyncio)"
        self._client: AsyncMongoClient[Doc] = AsyncMongoClient(source.url, **client_options(source, pool_size))
        self._collections = Collections(database_of(source, self._client))

    async def open(self) -> None:
        await self._client.admin.command("ping")

    def _collection(self, table: str) -> AsyncCollection[Doc]:
        collection: AsyncCollection[Doc] = self._collections[table]
        return collection

    async def get(self, table: str, key: str, fields: list[str] | None) -> Doc | None:
        return await self._collection(table).find_one({"_id": key}, _projection(fields))

    async def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        await self._collection(table).replace_one({"_id": key}, {"_id": key, **values}, upsert=True)

    async def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        requests = [ReplaceOne({"_id": key}, {"_id": key, **values}, upsert=True) for key, values in records]
        await self._collection(table).bulk_write(requests, ordered=False)

    async def update(self, table: str, key: str, values: dict[str, Any]) -> int:
        return (await self._collection(table).update_one({"_id": key}, {"$set": values})).matched_count

    async def delete(self, table: str, key: str) -> int:
        return (await self._collection(table).delete_one({"_id": key})).deleted_count

    async def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[Doc]:
        cursor = self._collection(table).find({"_id": {"$gte": start_key}}, _projection(fields))
        found: list[Doc] = await cursor.sort("_id", 1).limit(limit).to_list()
        return found

    async def read_modify_write(
        self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]
    ) -> Doc | None:
        collection = self._collection(table)
        found = await collection.find_one({"_id": key}, _projection(fields))
        await collection.update_one({"_id": key}, {"$set": values})
        return found

    async def aclose(self) -> None:
        await self._client.close()
