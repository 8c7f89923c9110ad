"""The raw-driver baseline of ``dbplex bench``: pymongo doing the record ops by hand.

It makes the requests a careful pymongo user would make against the backend's layout (a
collection per table, the key as ``_id``, fields as native document fields; see
:mod:`dbplex_mongo.translate`): one ``MongoClient`` whose pool has the benchmark's size,
collection handles kept, ``find_one`` / ``replace_one(upsert=True)`` / ``update_one($set)`` /
``delete_one`` / ``find().sort().limit()``, and one unordered ``bulk_write`` for a batch.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo import MongoClient, ReplaceOne
from pymongo.collection import Collection

from dbplex.backends import Source
from dbplex_mongo.client import database_of
from dbplex_mongo.conn import Collections

Doc = dict[str, Any]


def _projection(fields: list[str] | None) -> dict[str, bool] | None:
    return None if fields is None else dict.fromkeys(fields, True)


def client_options(source: Source, pool_size: int) -> dict[str, Any]:
    """The options of a baseline's client, sync or asyncio: a pool of ``pool_size`` connections
    with the source's wait deadline and connect timeout."""
    timeout_ms = round(source.config.connect_timeout * 1000)
    return {
        "maxPoolSize": pool_size,
        "minPoolSize": pool_size,
        "waitQueueTimeoutMS": round(source.config.pool.timeout * 1000),
        "connectTimeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
    }


class MongoBaseline:
    """Satisfies :class:`dbplex.bench.baseline.Baseline` with pymongo alone."""

    def __init__(self, source: Source, pool_size: int) -> None:
        self.label = f"pymongo {pymongo.version}"
        self._client: MongoClient[Doc] = MongoClient(source.url, **client_options(source, pool_size))
        try:
            self._client.admin.command("ping")
        except Exception:
            self._client.close()
            raise
        self._collections = Collections(database_of(source, self._client))

    def _collection(self, table: str) -> Collection[Doc]:
        collection: Collection[Doc] = self._collections[table]
        return collection

    def get(self, table: str, key: str, fields: list[str] | None) -> Doc | None:
        return self._collection(table).find_one({"_id": key}, _projection(fields))

    def put(self, table: str, key: str, values: dict[str, Any]) -> None:
        self._collection(table).replace_one({"_id": key}, {"_id": key, **values}, upsert=True)

    def put_many(self, table: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        requests = [ReplaceOne({"_id": key}, {"_id": key, **values}, upsert=True) for key, values in records]
        self._collection(table).bulk_write(requests, ordered=False)

    def update(self, table: str, key: str, values: dict[str, Any]) -> int:
        return self._collection(table).update_one({"_id": key}, {"$set": values}).matched_count

    def delete(self, table: str, key: str) -> int:
        return self._collection(table).delete_one({"_id": key}).deleted_count

    def scan(self, table: str, start_key: str, limit: int, fields: list[str] | None) -> list[Doc]:
        cursor = self._collection(table).find({"_id": {"$gte": start_key}}, _projection(fields))
        return list(cursor.sort("_id", 1).limit(limit))

    def read_modify_write(self, table: str, key: str, fields: list[str] | None, values: dict[str, Any]) -> Doc | None:
        collection = self._collection(table)
        found = collection.find_one({"_id": key}, _projection(fields))
        collection.update_one({"_id": key}, {"$set": values})
        return found

    def close(self) -> None:
        self._client.close()
