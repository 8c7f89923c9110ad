"""Ops into pymongo call arguments, and driver answers into rows: pure, no I/O.

Record layout: a table is a collection, the key is ``_id`` (a string), and each record field
is a document field holding its native BSON value (bytes as binary, int as int32/int64,
nested dicts as subdocuments), so other MongoDB tools see ordinary documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from gridfs import GridOut
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.results import BulkWriteResult

from dbplex_mongo.codec import plain_ints
from dbplex_mongo.ops import BulkDelete, BulkInsert, BulkReplace, BulkRequest, BulkUpdate, CreateIndex, Find, Watch

WriteModel = InsertOne[Any] | ReplaceOne[Any] | UpdateOne | UpdateMany | DeleteOne | DeleteMany

#: the projection of a Get or Scan whose ``fields`` name nothing a record can hold.
_KEY_ONLY = {"_id": True}
#: longest wait of one change-stream poll, so ``Watch.max_wait`` is overshot by at most this.
WATCH_POLL_MS = 250


# -- uniform record ops ---------------------------------------------------------------------------


def key_filter(key: str) -> dict[str, Any]:
    return {"_id": key}


#: Scan's order: by key, ascending.
SCAN_SORT = [("_id", 1)]


def scan_filter(start_key: str) -> dict[str, Any]:
    """String keys from ``start_key`` on; MongoDB compares strings by UTF-8 bytes, i.e. code points."""
    return {"_id": {"$gte": start_key}}


def _is_field(name: str) -> bool:
    # Names a record cannot hold would mean something else in a projection (paths, operators).
    return bool(name) and name[0] != "$" and "." not in name and "\x00" not in name and name != "_id"


def projection(fields: list[str] | None) -> dict[str, Any] | None:
    """Only ``fields`` (plus ``_id``, which is the key); None for the whole record."""
    if fields is None:
        return None
    return {name: True for name in fields if _is_field(name)} or _KEY_ONLY


def document(key: str, values: dict[str, Any]) -> dict[str, Any]:
    """The whole record as a document. ``_id`` is explicit so that an upsert never invents one."""
    return {"_id": key, **values}


def set_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {"$set": values}


def scan_row(doc: dict[str, Any]) -> dict[str, Any]:
    return {"key": doc.pop("_id"), "values": plain_ints(doc)}


# -- own ops -------------------------------------------------------------------------------------


def find_args(op: Find) -> dict[str, Any]:
    """Keyword arguments of ``Collection.find``."""
    return {"filter": op.filter, "projection": op.projection, "sort": op.sort, "limit": op.limit, "skip": op.skip}


def _insert(request: BulkInsert) -> WriteModel:
    return InsertOne(request.document)


def _replace(request: BulkReplace) -> WriteModel:
    return ReplaceOne(request.filter, request.replacement, upsert=request.upsert)


def _update(request: BulkUpdate) -> WriteModel:
    model = UpdateMany if request.many else UpdateOne
    return model(request.filter, request.update, upsert=request.upsert)


def _delete(request: BulkDelete) -> WriteModel:
    return (DeleteMany if request.many else DeleteOne)(request.filter)


_WRITE_MODELS: dict[type[Any], Any] = {
    BulkInsert: _insert,
    BulkReplace: _replace,
    BulkUpdate: _update,
    BulkDelete: _delete,
}


def write_models(requests: Sequence[BulkRequest]) -> list[WriteModel]:
    """pymongo's request objects for ``Collection.bulk_write``."""
    return [_WRITE_MODELS[type(request)](request) for request in requests]


def bulk_row(result: BulkWriteResult) -> tuple[dict[str, Any], int]:
    """The counts of a bulk write as one row, and the records it touched."""
    inserted, matched, deleted = result.inserted_count, result.matched_count, result.deleted_count
    upserted = result.upserted_count
    row = {
        "inserted": inserted,
        "matched": matched,
        "modified": result.modified_count,
        "deleted": deleted,
        "upserted": upserted,
        "upserted_ids": dict(result.upserted_ids or {}),
    }
    return plain_ints(row), inserted + upserted + matched + deleted


def index_args(op: CreateIndex) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """The key list and options of ``Collection.create_index`` (options left unset stay unsent)."""
    options: dict[str, Any] = {}
    if op.name is not None:
        options["name"] = op.name
    if op.unique:
        options["unique"] = True
    if op.sparse:
        options["sparse"] = True
    if op.expire_after_seconds is not None:
        options["expireAfterSeconds"] = op.expire_after_seconds
    if op.partial_filter is not None:
        options["partialFilterExpression"] = op.partial_filter
    return list(op.keys.items()), options


def file_id(value: Any) -> Any:
    """A GridFS file id; a 24-digit hex string stands for that ObjectId (as JSON spells one)."""
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    return value


def file_row(file: GridOut, data: bytes) -> dict[str, Any]:
    """A row of a GridFS file. ``GridOut._id`` is public despite its underscore: pymongo documents it
    ("the '_id' value for this file"), named after the files document's field, and has no other name."""
    return {
        "file_id": file._id,
        "filename": file.filename,
        "length": file.length,
        "data": data,
        "metadata": None if file.metadata is None else plain_ints(dict(file.metadata)),
        "upload_date": file.upload_date,
    }


def watch_args(op: Watch) -> dict[str, Any]:
    """Keyword arguments of ``watch()``; each server wait is capped so ``max_wait`` holds."""
    return {
        "pipeline": op.pipeline,
        "full_document": op.full_document,
        "resume_after": op.resume_after,
        "max_await_time_ms": max(1, min(WATCH_POLL_MS, round(op.max_wait * 1000))),
    }
