"""Runs the plans of :mod:`dbplex_mongo.plans` on pymongo's async API: the ``dbplex_async_query``
and ``dbplex_async_health`` hooks.

The twin of :mod:`dbplex_mongo.execute`: the same planners, filters, documents and rows, the same
error translation; the calls are ``AsyncCollection`` ones, in the transaction's session when
there is one. Not here yet: GridFS and change streams (``UnsupportedError`` naming them).
"""

from __future__ import annotations

from typing import Any

from pymongo.results import BulkWriteResult, DeleteResult, UpdateResult

from dbplex.aio import cancellation
from dbplex.aio.pool import AsyncPool
from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.health import Health
from dbplex.ops import Op
from dbplex.result import Result
from dbplex_mongo.answers import Calls, routes
from dbplex_mongo.conn import Doc, MongoConn, resolve
from dbplex_mongo.errors import DRIVER_ERRORS, op_failure, translate
from dbplex_mongo.health import shape
from dbplex_mongo.plans import (
    PLANNERS,
    AggregateDocuments,
    BulkWrite,
    CreateIndexCall,
    DeleteRecord,
    FindDocuments,
    FindRecord,
    FindRecords,
    ReplaceRecord,
    ReplaceRecords,
    UpdateRecord,
)

_CALLS = Calls()


@_CALLS.on(FindRecord)
async def _find_record(conn: MongoConn, plan: FindRecord) -> Doc | None:
    collection: Any = conn.collections[plan.collection]
    session = conn.session
    if plan.projection is None and session is None:
        return await collection.find_one(plan.filter)  # type: ignore[no-any-return]
    return await collection.find_one(plan.filter, plan.projection, session=session)  # type: ignore[no-any-return]


@_CALLS.on(ReplaceRecord)
async def _replace_record(conn: MongoConn, plan: ReplaceRecord) -> UpdateResult:
    collection: Any = conn.collections[plan.collection]
    return await collection.replace_one(plan.filter, plan.replacement, upsert=True, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(UpdateRecord)
async def _update_record(conn: MongoConn, plan: UpdateRecord) -> UpdateResult:
    collection: Any = conn.collections[plan.collection]
    return await collection.update_one(plan.filter, plan.update, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(DeleteRecord)
async def _delete_record(conn: MongoConn, plan: DeleteRecord) -> DeleteResult:
    collection: Any = conn.collections[plan.collection]
    return await collection.delete_one(plan.filter, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(FindRecords)
async def _find_records(conn: MongoConn, plan: FindRecords) -> list[Doc]:
    collection: Any = conn.collections[plan.collection]
    cursor = collection.find(plan.filter, plan.projection, sort=plan.sort, limit=plan.limit, session=conn.session)
    return [doc async for doc in cursor]


@_CALLS.on(FindDocuments)
async def _find_documents(conn: MongoConn, plan: FindDocuments) -> list[Doc]:
    collection: Any = conn.collections[plan.collection]
    return [doc async for doc in collection.find(**plan.arguments, session=conn.session)]


@_CALLS.on(AggregateDocuments)
async def _aggregate(conn: MongoConn, plan: AggregateDocuments) -> list[Doc]:
    collection: Any = conn.collections[plan.collection]
    return [doc async for doc in await collection.aggregate(plan.pipeline, session=conn.session)]


@_CALLS.on(ReplaceRecords)  # a PutMany's requests, unordered
@_CALLS.on(BulkWrite)
async def _bulk_write(conn: MongoConn, plan: BulkWrite) -> BulkWriteResult:
    collection: Any = conn.collections[plan.collection]
    return await collection.bulk_write(plan.requests, ordered=plan.ordered, session=conn.session)  # type: ignore[no-any-return]


@_CALLS.on(CreateIndexCall)
async def _create_index(conn: MongoConn, plan: CreateIndexCall) -> str:
    collection: Any = conn.collections[plan.collection]
    return await collection.create_index(plan.keys, session=conn.session, **plan.options)  # type: ignore[no-any-return]


#: each op's planner (the sync executor's), its async call and its shaper; ops whose plans have
#: no async call yet (GridFS, change streams) are absent.
_ROUTES = routes(_CALLS)


async def run(source: Source, conn: Any, op: Op) -> Result:
    """Plan ``op`` and run it on ``conn``, what the asyncio pool handed out; driver errors become dbplex errors."""
    mongo = resolve(conn, source)
    route = _ROUTES.get(type(op))
    if route is None:
        known = type(op) in PLANNERS
        raise UnsupportedError(
            f"source {source.name!r}: backend 'mongo' does not run {type(op).__name__} ops"
            + (" under asyncio yet; use dbplex.open() for them" if known else "")
        )
    planner, call, shape_answer = route
    plan = planner(op)
    before = cancellation.requests()
    try:
        answer = await call(mongo, plan)
    except DRIVER_ERRORS as exc:
        raise op_failure(source, mongo.monitor, op, exc) from exc
    cancellation.deliver(before)  # pymongo sends under asyncio.wait_for, which can drop a cancellation
    return shape_answer(plan, answer)


async def check(source: Source, pool: AsyncPool) -> Health:
    """As :func:`dbplex_mongo.health.check`: ``hello`` and ``buildInfo``; raises SourceUnavailable when unreachable."""
    try:
        async with pool.connection() as native:
            info = await resolve(native, source).server.refresh()  # type: ignore[misc]
    except DRIVER_ERRORS as exc:
        raise translate(source, exc, "checking health") from exc
    return shape(source, pool.stats(), info)
