"""Runs plans on a :class:`~dbplex_mongo.conn.MongoConn` and shapes the answers into Results.

Ops are planned by :mod:`dbplex_mongo.plans` (pure); this module makes the pymongo calls, in
the connection's session when it has one.
"""

from __future__ import annotations

import time
from typing import Any

from gridfs import GridFSBucket, GridOut
from gridfs.errors import NoFile
from pymongo.results import BulkWriteResult, DeleteResult, UpdateResult

from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.ops import Op
from dbplex.result import Result
from dbplex_mongo import translate as tr
from dbplex_mongo.answers import SHAPES, Calls, routes
from dbplex_mongo.codec import plain_ints
from dbplex_mongo.conn import Doc, MongoConn, resolve
from dbplex_mongo.errors import DRIVER_ERRORS, op_failure
from dbplex_mongo.plans import (
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
    ReplaceRecords,
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
    planner, call, shape = route
    plan = planner(op)
    try:
        return shape(plan, call(mongo, plan))
    except DRIVER_ERRORS as exc:
        raise op_failure(source, mongo.monitor, op, exc) from exc


def execute(conn: MongoConn, plan: Plan) -> Result:
    """Make the call ``plan`` describes on ``conn`` and shape its answer."""
    return SHAPES[type(plan)](plan, _CALLS[type(plan)](conn, plan))


_CALLS = Calls()


# -- uniform record ops (the hot path) -----------------------------------------------------------


@_CALLS.on(FindRecord)
def _find_record(conn: MongoConn, plan: FindRecord) -> Doc | None:
    collection = conn.collections[plan.collection]
    session = conn.session
    if plan.projection is None and session is None:
        return collection.find_one(plan.filter)  # type: ignore[no-any-return]
    return collection.find_one(plan.filter, plan.projection, session=session)  # type: ignore[no-any-return]


@_CALLS.on(ReplaceRecord)
def _replace_record(conn: MongoConn, plan: ReplaceRecord) -> UpdateResult:
    return conn.collections[plan.collection].replace_one(  # type: ignore[no-any-return]
        plan.filter, plan.replacement, upsert=True, session=conn.session
    )


@_CALLS.on(UpdateRecord)
def _update_record(conn: MongoConn, plan: UpdateRecord) -> UpdateResult:
    return conn.collections[plan.collection].update_one(plan.filter, plan.update, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(DeleteRecord)
def _delete_record(conn: MongoConn, plan: DeleteRecord) -> DeleteResult:
    return conn.collections[plan.collection].delete_one(plan.filter, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(FindRecords)
def _find_records(conn: MongoConn, plan: FindRecords) -> list[Doc]:
    cursor = conn.collections[plan.collection].find(
        plan.filter, plan.projection, sort=plan.sort, limit=plan.limit, session=conn.session
    )
    return list(cursor)


# -- own ops -------------------------------------------------------------------------------------


@_CALLS.on(FindDocuments)
def _find_documents(conn: MongoConn, plan: FindDocuments) -> list[Doc]:
    return list(conn.collections[plan.collection].find(**plan.arguments, session=conn.session))


@_CALLS.on(AggregateDocuments)
def _aggregate(conn: MongoConn, plan: AggregateDocuments) -> list[Doc]:
    return list(conn.collections[plan.collection].aggregate(plan.pipeline, session=conn.session))


@_CALLS.on(ReplaceRecords)  # a PutMany's requests, unordered
@_CALLS.on(BulkWrite)
def _bulk_write(conn: MongoConn, plan: BulkWrite) -> BulkWriteResult:
    return conn.collections[plan.collection].bulk_write(  # type: ignore[no-any-return]
        plan.requests, ordered=plan.ordered, session=conn.session
    )


@_CALLS.on(CreateIndexCall)
def _create_index(conn: MongoConn, plan: CreateIndexCall) -> str:
    return conn.collections[plan.collection].create_index(plan.keys, session=conn.session, **plan.options)  # type: ignore[no-any-return]


def _bucket(conn: MongoConn, name: str | None) -> GridFSBucket:
    return GridFSBucket(conn.database, bucket_name=name or conn.gridfs_bucket)


@_CALLS.on(UploadFile)
def _upload(conn: MongoConn, plan: UploadFile) -> Result:
    file_id = _bucket(conn, plan.bucket).upload_from_stream(
        plan.filename, plan.data, chunk_size_bytes=plan.chunk_size, metadata=plan.metadata, session=conn.session
    )
    return Result([{"file_id": file_id, "filename": plan.filename, "length": len(plan.data)}], affected=1)


@_CALLS.on(DownloadFile)
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


@_CALLS.on(WatchChanges)
def _watch(conn: MongoConn, plan: WatchChanges) -> Result:
    conn.server.require_replication("change streams")
    target = conn.collections[plan.collection] if plan.collection else conn.database
    deadline = time.monotonic() + plan.max_wait
    events: list[dict[str, Any]] = []
    with target.watch(**plan.arguments, session=conn.session) as stream:
        while len(events) < plan.max_events and time.monotonic() < deadline:
            event = stream.try_next()
            if event is not None:
                events.append(plain_ints(event))
    return Result(events)


_ROUTES = routes(_CALLS)
