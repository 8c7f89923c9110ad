"""Ops as plans: which pymongo call, on which collection, with which arguments.

Planning is pure (no client, no I/O), so the plans can be tested without a server and an
asyncio executor can make the same calls on pymongo's async API; :mod:`dbplex_mongo.execute`
makes them on a :class:`~dbplex_mongo.conn.MongoConn`. Plans hold only data (dicts in MongoDB
query syntax and pymongo's write-request objects, which its sync and async APIs share); the
session and the collection handle are the executor's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from pymongo import ReplaceOne

from dbplex.ops import Delete, Get, Op, Put, PutMany, Scan, Update
from dbplex_mongo import translate as tr
from dbplex_mongo.ops import Aggregate, Bulk, CreateIndex, Find, GridFSGet, GridFSPut, Watch

Doc = dict[str, Any]

# gc=False: plans hold documents and values, never themselves, so the cycle collector need not
# track them (one allocation less per op).


class FindRecord(msgspec.Struct, frozen=True, gc=False):
    """``find_one(filter, projection)``; the document is record ``key`` (none: no record)."""

    collection: str
    filter: Doc
    projection: Doc | None
    key: str


class ReplaceRecord(msgspec.Struct, frozen=True, gc=False):
    """``replace_one(filter, replacement, upsert=True)``; one record written."""

    collection: str
    filter: Doc
    replacement: Doc


class UpdateRecord(msgspec.Struct, frozen=True, gc=False):
    """``update_one(filter, update)``; ``affected`` is the matched count."""

    collection: str
    filter: Doc
    update: Doc


class DeleteRecord(msgspec.Struct, frozen=True, gc=False):
    """``delete_one(filter)``; ``affected`` is the deleted count."""

    collection: str
    filter: Doc


class FindRecords(msgspec.Struct, frozen=True, gc=False):
    """``find(filter, projection, sort=sort, limit=limit)``; each document is a record."""

    collection: str
    filter: Doc
    projection: Doc | None
    sort: list[tuple[str, int]]
    limit: int


class FindDocuments(msgspec.Struct, frozen=True, gc=False):
    """``find(**arguments)``; rows are the documents."""

    collection: str
    arguments: Doc


class AggregateDocuments(msgspec.Struct, frozen=True, gc=False):
    """``aggregate(pipeline)``; rows are the documents."""

    collection: str
    pipeline: list[Doc]


class BulkWrite(msgspec.Struct, frozen=True, gc=False):
    """``bulk_write(requests, ordered=ordered)``; one row of counts."""

    collection: str
    requests: list[tr.WriteModel]
    ordered: bool


class ReplaceRecords(BulkWrite, frozen=True, gc=False):
    """A PutMany: ``bulk_write`` of an upserting ``ReplaceOne`` per record, unordered (the keys
    differ, so the order does not matter and the server may split the batch freely); ``affected``
    is the number of records."""


class CreateIndexCall(msgspec.Struct, frozen=True, gc=False):
    """``create_index(keys, **options)``; one row with the index name."""

    collection: str
    keys: list[tuple[str, Any]]
    options: Doc


class UploadFile(msgspec.Struct, frozen=True, gc=False):
    """``upload_from_stream`` on GridFS bucket ``bucket`` (None: the source's bucket)."""

    bucket: str | None
    filename: str
    data: bytes
    chunk_size: int | None
    metadata: Doc | None


class DownloadFile(msgspec.Struct, frozen=True, gc=False):
    """``open_download_stream(file_id)``, or by ``filename`` and ``revision`` when ``file_id``
    is None; a missing file gives no row."""

    bucket: str | None
    file_id: Any
    filename: str | None
    revision: int


class WatchChanges(msgspec.Struct, frozen=True, gc=False):
    """``watch(**arguments)`` on ``collection`` (None: the database), polled until
    ``max_events`` events or ``max_wait`` seconds."""

    collection: str | None
    arguments: Doc
    max_events: int
    max_wait: float


Plan = (
    FindRecord
    | ReplaceRecord
    | UpdateRecord
    | DeleteRecord
    | FindRecords
    | FindDocuments
    | AggregateDocuments
    | BulkWrite
    | ReplaceRecords
    | CreateIndexCall
    | UploadFile
    | DownloadFile
    | WatchChanges
)


def plan_get(op: Get) -> FindRecord:
    fields = op.fields
    key = op.key
    # the key filter written out (tr.key_filter's): a Get is planned per read
    return FindRecord(op.table, {"_id": key}, None if fields is None else tr.projection(fields), key)


def plan_put(op: Put) -> ReplaceRecord:
    return ReplaceRecord(op.table, tr.key_filter(op.key), tr.document(op.key, op.values))


def plan_put_many(op: PutMany) -> ReplaceRecords:
    requests: list[tr.WriteModel] = [
        ReplaceOne(tr.key_filter(key), tr.document(key, values), upsert=True) for key, values in op.records.items()
    ]
    return ReplaceRecords(op.table, requests, ordered=False)


def plan_update(op: Update) -> UpdateRecord:
    return UpdateRecord(op.table, tr.key_filter(op.key), tr.set_fields(op.values))


def plan_delete(op: Delete) -> DeleteRecord:
    return DeleteRecord(op.table, tr.key_filter(op.key))


def plan_scan(op: Scan) -> FindRecords:
    fields = op.fields
    projection = None if fields is None else tr.projection(fields)
    return FindRecords(op.table, tr.scan_filter(op.start_key), projection, tr.SCAN_SORT, op.limit)


def plan_find(op: Find) -> FindDocuments:
    return FindDocuments(op.collection, tr.find_args(op))


def plan_aggregate(op: Aggregate) -> AggregateDocuments:
    return AggregateDocuments(op.collection, op.pipeline)


def plan_bulk(op: Bulk) -> BulkWrite:
    return BulkWrite(op.collection, tr.write_models(op.requests), op.ordered)


def plan_create_index(op: CreateIndex) -> CreateIndexCall:
    keys, options = tr.index_args(op)
    return CreateIndexCall(op.collection, keys, options)


def plan_gridfs_put(op: GridFSPut) -> UploadFile:
    return UploadFile(op.bucket, op.filename, op.data, op.chunk_size, op.metadata)


def plan_gridfs_get(op: GridFSGet) -> DownloadFile:
    file_id = None if op.file_id is None else tr.file_id(op.file_id)
    return DownloadFile(op.bucket, file_id, op.filename, op.revision)


def plan_watch(op: Watch) -> WatchChanges:
    return WatchChanges(op.collection, tr.watch_args(op), op.max_events, op.max_wait)


#: the planner of each op this backend runs.
PLANNERS: dict[type[Op], Callable[[Any], Plan]] = {
    Get: plan_get,
    Put: plan_put,
    PutMany: plan_put_many,
    Update: plan_update,
    Delete: plan_delete,
    Scan: plan_scan,
    Find: plan_find,
    Aggregate: plan_aggregate,
    Bulk: plan_bulk,
    CreateIndex: plan_create_index,
    GridFSPut: plan_gridfs_put,
    GridFSGet: plan_gridfs_get,
    Watch: plan_watch,
}
