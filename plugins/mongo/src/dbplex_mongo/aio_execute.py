"""Runs the plans of :mod:`dbplex_mongo.plans` on pymongo's async API: the ``dbplex_async_query``
and ``dbplex_async_health`` hooks.

The twin of :mod:`dbplex_mongo.execute`: the same planners, filters, documents and rows, the same
error translation; the calls are ``AsyncCollection`` ones, in the transaction's session when
there is one. Not here yet: GridFS and change streams (``UnsupportedError`` naming them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from pymongo.errors import ServerSelectionTimeoutError

from dbplex.aio.pool import AsyncPool
from dbplex.backends import Source
from dbplex.errors import UnsupportedError
from dbplex.health import Health
from dbplex.ops import Op
from dbplex.result import Result
from dbplex_mongo import translate as tr
from dbplex_mongo.codec import plain_ints
from dbplex_mongo.conn import MongoConn, resolve
from dbplex_mongo.errors import DRIVER_ERRORS, describe, translate
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
    Plan,
    ReplaceRecord,
    UpdateRecord,
)

Conn = MongoConn
Executor = Callable[[Conn, Any], Awaitable[Result]]


async def _find_record(conn: Conn, plan: FindRecord) -> Result:
    doc = await conn.collection(plan.collection).find_one(plan.filter, plan.projection, session=conn.session)  # type: ignore[misc]
    return Result() if doc is None else Result([tr.record_row(plan.key, doc)])


async def _replace_record(conn: Conn, plan: ReplaceRecord) -> Result:
    await conn.collection(plan.collection).replace_one(  # type: ignore[misc]
        plan.filter, plan.replacement, upsert=True, session=conn.session
    )
    return Result(affected=1)


async def _update_record(conn: Conn, plan: UpdateRecord) -> Result:
    result = await conn.collection(plan.collection).update_one(plan.filter, plan.update, session=conn.session)  # type: ignore[misc]
    return Result(affected=result.matched_count)


async def _delete_record(conn: Conn, plan: DeleteRecord) -> Result:
    result = await conn.collection(plan.collection).delete_one(plan.filter, session=conn.session)  # type: ignore[misc]
    return Result(affected=result.deleted_count)


async def _find_records(conn: Conn, plan: FindRecords) -> Result:
    cursor: Any = conn.collection(plan.collection).find(
        plan.filter, plan.projection, sort=plan.sort, limit=plan.limit, session=conn.session
    )
    return Result([tr.scan_row(doc) async for doc in cursor])


async def _find_documents(conn: Conn, plan: FindDocuments) -> Result:
    cursor: Any = conn.collection(plan.collection).find(**plan.arguments, session=conn.session)
    return Result([plain_ints(doc) async for doc in cursor])


async def _aggregate(conn: Conn, plan: AggregateDocuments) -> Result:
    cursor: Any = await conn.collection(plan.collection).aggregate(plan.pipeline, session=conn.session)  # type: ignore[misc]
    return Result([plain_ints(doc) async for doc in cursor])


async def _bulk_write(conn: Conn, plan: BulkWrite) -> Result:
    result = await conn.collection(plan.collection).bulk_write(
        plan.requests, ordered=plan.ordered, session=conn.session
    )  # type: ignore[misc]
    row, affected = tr.bulk_row(result)
    return Result([row], affected)


async def _create_index(conn: Conn, plan: CreateIndexCall) -> Result:
    name = await conn.collection(plan.collection).create_index(plan.keys, session=conn.session, **plan.options)  # type: ignore[misc]
    return Result([{"name": name}])


_EXECUTORS: dict[type[Any], Executor] = {
    FindRecord: _find_record,
    ReplaceRecord: _replace_record,
    UpdateRecord: _update_record,
    DeleteRecord: _delete_record,
    FindRecords: _find_records,
    FindDocuments: _find_documents,
    AggregateDocuments: _aggregate,
    BulkWrite: _bulk_write,
    CreateIndexCall: _create_index,
}

#: each op's planner (the sync executor's) and the async executor of the plan it returns; ops
#: whose plans have no async executor yet (GridFS, change streams) are absent.
_ROUTES: dict[type[Op], tuple[Callable[[Any], Plan], Executor]] = {
    op_type: (planner, _EXECUTORS[plan_type])
    for op_type, planner in PLANNERS.items()
    if (plan_type := get_type_hints(planner)["return"]) in _EXECUTORS
}


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
    planner, executor = route
    try:
        return await executor(mongo, planner(op))
    except DRIVER_ERRORS as exc:
        if mongo.monitor is not None and isinstance(exc, ServerSelectionTimeoutError):
            mongo.monitor.count("errors")  # the driver's pool never saw this attempt
        raise translate(source, exc, describe(op), mongo.monitor) from exc


async def check(source: Source, pool: AsyncPool) -> Health:
    """As :func:`dbplex_mongo.health.check`: ``hello`` and ``buildInfo``; raises SourceUnavailable when unreachable."""
    try:
        async with pool.connection() as native:
            info = await resolve(native, source).server.refresh()  # type: ignore[misc]
    except DRIVER_ERRORS as exc:
        raise translate(source, exc, "checking health") from exc
    return shape(source, pool.stats(), info)
