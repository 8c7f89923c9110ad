"""Runs ops on a :class:`~dbplex_mongo.conn.MongoConn` and shapes the answers into Results."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gridfs import GridFSBucket, GridOut
from gridfs.errors import NoFile
from pymongo.errors import ServerSelectionTimeoutError

from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.ops import Delete, Get, Op, Put, Scan, Update
from dbplex.result import Result
from dbplex_mongo import translate as tr
from dbplex_mongo.codec import plain_ints
from dbplex_mongo.conn import MongoConn, resolve
from dbplex_mongo.errors import DRIVER_ERRORS, describe, translate
from dbplex_mongo.ops import Aggregate, Bulk, CreateIndex, Find, GridFSGet, GridFSPut, Watch


def run(source: Source, native: Any, op: Op) -> Result:
    """Run ``op`` on what the pool handed out; driver errors become dbplex errors."""
    conn = resolve(native, source)
    handler = _HANDLERS.get(type(op))
    if handler is None:
        raise UnsupportedError(f"source {source.name!r}: backend 'mongo' does not run {type(op).__name__} ops")
    try:
        return handler(conn, op)
    except DRIVER_ERRORS as exc:
        if conn.counters is not None and isinstance(exc, ServerSelectionTimeoutError):
            conn.counters.count("errors")  # the driver's pool never saw this attempt
        raise translate(source, exc, describe(op)) from exc


# -- uniform record ops (the hot path) -----------------------------------------------------------


def _get(conn: MongoConn, op: Get) -> Result:
    doc = conn.collection(op.table).find_one(tr.key_filter(op.key), tr.projection(op.fields), session=conn.session)
    return Result() if doc is None else Result([tr.record_row(op.key, doc)])


def _put(conn: MongoConn, op: Put) -> Result:
    conn.collection(op.table).replace_one(
        tr.key_filter(op.key), tr.document(op.key, op.values), upsert=True, session=conn.session
    )
    return Result(affected=1)


def _update(conn: MongoConn, op: Update) -> Result:
    result = conn.collection(op.table).update_one(tr.key_filter(op.key), tr.set_fields(op.values), session=conn.session)
    return Result(affected=result.matched_count)


def _delete(conn: MongoConn, op: Delete) -> Result:
    return Result(
        affected=conn.collection(op.table).delete_one(tr.key_filter(op.key), session=conn.session).deleted_count
    )


def _scan(conn: MongoConn, op: Scan) -> Result:
    cursor = conn.collection(op.table).find(
        tr.scan_filter(op.start_key), tr.projection(op.fields), sort=tr.SCAN_SORT, limit=op.limit, session=conn.session
    )
    return Result([tr.scan_row(doc) for doc in cursor])


# -- own ops -------------------------------------------------------------------------------------


def _find(conn: MongoConn, op: Find) -> Result:
    cursor = conn.collection(op.collection).find(**tr.find_args(op), session=conn.session)
    return Result([plain_ints(doc) for doc in cursor])


def _aggregate(conn: MongoConn, op: Aggregate) -> Result:
    cursor = conn.collection(op.collection).aggregate(op.pipeline, session=conn.session)
    return Result([plain_ints(doc) for doc in cursor])


def _bulk(conn: MongoConn, op: Bulk) -> Result:
    result = conn.collection(op.collection).bulk_write(
        tr.write_models(op.requests), ordered=op.ordered, session=conn.session
    )
    row, affected = tr.bulk_row(result)
    return Result([row], affected)


def _create_index(conn: MongoConn, op: CreateIndex) -> Result:
    keys, options = tr.index_args(op)
    name = conn.collection(op.collection).create_index(keys, session=conn.session, **options)
    return Result([{"name": name}])


def _bucket(conn: MongoConn, name: str | None) -> GridFSBucket:
    return GridFSBucket(conn.database, bucket_name=name or conn.gridfs_bucket)


def _gridfs_put(conn: MongoConn, op: GridFSPut) -> Result:
    file_id = _bucket(conn, op.bucket).upload_from_stream(
        op.filename, op.data, chunk_size_bytes=op.chunk_size, metadata=op.metadata, session=conn.session
    )
    return Result([{"file_id": file_id, "filename": op.filename, "length": len(op.data)}], affected=1)


def _gridfs_get(conn: MongoConn, op: GridFSGet) -> Result:
    bucket = _bucket(conn, op.bucket)
    stream: GridOut
    try:
        if op.file_id is not None:
            stream = bucket.open_download_stream(tr.file_id(op.file_id), session=conn.session)
        else:
            stream = bucket.open_download_stream_by_name(str(op.filename), op.revision, session=conn.session)
    except NoFile:
        return Result()
    with stream:
        return Result([tr.file_row(stream, stream.read())])


def _watch(conn: MongoConn, op: Watch) -> Result:
    conn.server.require_replication("change streams")
    target = conn.collection(op.collection) if op.collection else conn.database
    deadline = time.monotonic() + op.max_wait
    events: list[dict[str, Any]] = []
    with target.watch(**tr.watch_args(op), session=conn.session) as stream:
        while len(events) < op.max_events and time.monotonic() < deadline:
            event = stream.try_next()
            if event is not None:
                events.append(plain_ints(event))
    return Result(events)


_HANDLERS: dict[type[Op], Callable[[MongoConn, Any], Result]] = {
    Get: _get,
    Put: _put,
    Update: _update,
    Delete: _delete,
    Scan: _scan,
    Find: _find,
    Aggregate: _aggregate,
    Bulk: _bulk,
    CreateIndex: _create_index,
    GridFSPut: _gridfs_put,
    GridFSGet: _gridfs_get,
    Watch: _watch,
}
