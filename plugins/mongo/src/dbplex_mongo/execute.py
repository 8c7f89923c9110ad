"""Runs plans on a :class:`~dbplex_mongo.conn.MongoConn` and shapes the answers into Results.

Ops are planned by :mod:`dbplex_mongo.plans` (pure); this module makes the pymongo calls, in
the connection's session when it has one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, get_type_hints

from gridfs import GridFSBucket, GridOut
from gridfs.errors import NoFile
from pymongo.errors import ServerSelectionTimeoutError

from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.ops import Op
from dbplex.result import Result
from dbplex_mongo import translate as tr
from dbplex_mongo.codec import plain_ints
from dbplex_mongo.conn import MongoConn, resolve
from dbplex_mongo.errors import DRIVER_ERRORS, describe, translate
from dbplex_mongo.plans import (
    PLANNERS,
    AggregateDocuments,
    BulkWrite,
    CreateIndexCall,
    DeleteRecord,
    DownloadFile,
    FindDocuments,
    FindRecord,
    FindRecords,
    Plan,
    ReplaceRecord,
    UpdateRecord,
    UploadFile,
    WatchChanges,
)


def run(source: Source, conn: Any, op: Op) -> Result:
    """Plan ``op`` and run it on ``conn``, what the pool handed out; driver errors become dbplex errors."""
    mongo = resolve(conn, source)
    route = _ROUTES.get(type(op))
    if route is None:
        raise UnsupportedError(f"source {source.name!r}: backend 'mongo' does not run {type(op).__name__} ops")
    planner, executor = route
    try:
        return executor(mongo, planner(op))
    except DRIVER_ERRORS as exc:
        if mongo.monitor is not None and isinstance(exc, ServerSelectionTimeoutError):
            mongo.monitor.count("errors")  # the driver's pool never saw this attempt
        raise translate(source, exc, describe(op), mongo.monitor) from exc


def execute(conn: MongoConn, plan: Plan) -> Result:
    """Make the call ``plan`` describes on ``conn`` and shape its answer."""
    return _EXECUTORS[type(plan)](conn, plan)


# -- uniform record ops (the hot path) -----------------------------------------------------------


def _find_record(conn: MongoConn, plan: FindRecord) -> Result:
    doc = conn.collection(plan.collection).find_one(plan.filter, plan.projection, session=conn.session)
    return Result() if doc is None else Result([tr.record_row(plan.key, doc)])


def _replace_record(conn: MongoConn, plan: ReplaceRecord) -> Result:
    conn.collection(plan.collection).replace_one(plan.filter, plan.replacement, upsert=True, session=conn.session)
    return Result(affected=1)


def _update_record(conn: MongoConn, plan: UpdateRecord) -> Result:
    result = conn.collection(plan.collection).update_one(plan.filter, plan.update, session=conn.session)
    return Result(affected=result.matched_count)


def _delete_record(conn: MongoConn, plan: DeleteRecord) -> Result:
    return Result(affected=conn.collection(plan.collection).delete_one(plan.filter, session=conn.session).deleted_count)


def _find_records(conn: MongoConn, plan: FindRecords) -> Result:
    cursor = conn.collection(plan.collection).find(
        plan.filter, plan.projection, sort=plan.sort, limit=plan.limit, session=conn.session
    )
    return Result([tr.scan_row(doc) for doc in cursor])


# -- own ops -------------------------------------------------------------------------------------


def _find_documents(conn: MongoConn, plan: FindDocuments) -> Result:
    cursor = conn.collection(plan.collection).find(**plan.arguments, session=conn.session)
    return Result([plain_ints(doc) for doc in cursor])


def _aggregate(conn: MongoConn, plan: AggregateDocuments) -> Result:
    cursor = conn.collection(plan.collection).aggregate(plan.pipeline, session=conn.session)
    return Result([plain_ints(doc) for doc in cursor])


def _bulk_write(conn: MongoConn, plan: BulkWrite) -> Result:
    result = conn.collection(plan.collection).bulk_write(plan.requests, ordered=plan.ordered, session=conn.session)
    row, affected = tr.bulk_row(result)
    return Result([row], affected)


def _create_index(conn: MongoConn, plan: CreateIndexCall) -> Result:
    name = conn.collection(plan.collection).create_index(plan.keys, session=conn.session, **plan.options)
    return Result([{"name": name}])


def _bucket(conn: MongoConn, name: str | None) -> GridFSBucket:
    return GridFSBucket(conn.database, bucket_name=name or conn.gridfs_bucket)


def _upload(conn: MongoConn, plan: UploadFile) -> Result:
    file_id = _bucket(conn, plan.bucket).upload_from_stream(
        plan.filename, plan.data, chunk_size_bytes=plan.chunk_size, metadata=plan.metadata, session=conn.session
    )
    return Result([{"file_id": file_id, "filename": plan.filename, "length": len(plan.data)}], affected=1)


def _download(conn: MongoConn, plan: DownloadFile) -> Result:
    bucket = _bucket(conn, plan.bucket)
    stream: GridOut
    try:
        if plan.file_id is not None:
            stream = bucket.open_download_stream(plan.file_id, session=conn.session)
        else:
            stream = bucket.open_download_stream_by_name(str(plan.filename), plan.revision, session=conn.session)
    except NoFile:
        return Result()
    with stream:
        return Result([tr.file_row(stream, stream.read())])


def _watch(conn: MongoConn, plan: WatchChanges) -> Result:
    conn.server.require_replication("change streams")
    target = conn.collection(plan.collection) if plan.collection else conn.database
    deadline = time.monotonic() + plan.max_wait
    events: list[dict[str, Any]] = []
    with target.watch(**plan.arguments, session=conn.session) as stream:
        while len(events) < plan.max_events and time.monotonic() < deadline:
            event = stream.try_next()
            if event is not None:
                events.append(plain_ints(event))
    return Result(events)


_EXECUTORS: dict[type[Any], Callable[[MongoConn, Any], Result]] = {
    FindRecord: _find_record,
    ReplaceRecord: _replace_record,
    UpdateRecord: _update_record,
    DeleteRecord: _delete_record,
    FindRecords: _find_records,
    FindDocuments: _find_documents,
    AggregateDocuments: _aggregate,
    BulkWrite: _bulk_write,
    CreateIndexCall: _create_index,
    UploadFile: _upload,
    DownloadFile: _download,
    WatchChanges: _watch,
}

#: each op's planner and the executor of the plan it returns (its return annotation), so that
#: running an op costs one lookup.
_ROUTES: dict[type[Op], tuple[Callable[[Any], Plan], Callable[[MongoConn, Any], Result]]] = {
    op_type: (planner, _EXECUTORS[get_type_hints(planner)["return"]]) for op_type, planner in PLANNERS.items()
}
