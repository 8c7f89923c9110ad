"""Driver answers into Results, and the routes from an op to its plan, call and answer: pure, no I/O.

The sync executor (:mod:`dbplex_mongo.execute`) and the asyncio one
(:mod:`dbplex_mongo.aio_execute`) differ only in their driver calls: each registers a call per
plan type in its :class:`Calls`, which returns what pymongo answered (documents listed), and
:func:`routes` pairs it with the op's planner and the shaper here that makes the Result, so
both run an op as ``shape(plan, call(conn, plan))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

from pymongo.results import BulkWriteResult, DeleteResult, UpdateResult

from dbplex.ops import Op
from dbplex.result import Result
from dbplex_mongo import plans
from dbplex_mongo import translate as tr
from dbplex_mongo.codec import plain_ints

Doc = dict[str, Any]
C = TypeVar("C", bound=Callable[..., Any])


def found_record(plan: plans.FindRecord, doc: Doc | None) -> Result:
    """``find_one``'s document as record ``plan.key`` (the driver's fresh dict reused, minus ``_id``)."""
    if doc is None:
        return Result()
    del doc["_id"]
    return Result([{"key": plan.key, "values": plain_ints(doc)}])


def written(plan: plans.ReplaceRecord, answer: object) -> Result:
    return Result(affected=1)


def matched(plan: plans.UpdateRecord, answer: UpdateResult) -> Result:
    return Result(affected=answer.matched_count)


def deleted(plan: plans.DeleteRecord, answer: DeleteResult) -> Result:
    return Result(affected=answer.deleted_count)


def records(plan: plans.FindRecords, docs: list[Doc]) -> Result:
    return Result([tr.scan_row(doc) for doc in docs])


def documents(plan: plans.FindDocuments | plans.AggregateDocuments, docs: list[Doc]) -> Result:
    return Result([plain_ints(doc) for doc in docs])


def bulk_written(plan: plans.BulkWrite, answer: BulkWriteResult) -> Result:
    row, affected = tr.bulk_row(answer)
    return Result([row], affected)


def replaced(plan: plans.ReplaceRecords, answer: BulkWriteResult) -> Result:
    return Result(affected=len(plan.requests))


def index_named(plan: plans.CreateIndexCall, name: str) -> Result:
    return Result([{"name": name}])


def as_is(plan: Any, result: Result) -> Result:
    """For calls that read their answer inside (GridFS streams, change streams) and return the Result."""
    return result


#: the shaper of each plan type's answer.
SHAPES: dict[type[Any], Callable[[Any, Any], Result]] = {
    plans.FindRecord: found_record,
    plans.ReplaceRecord: written,
    plans.UpdateRecord: matched,
    plans.DeleteRecord: deleted,
    plans.FindRecords: records,
    plans.FindDocuments: documents,
    plans.AggregateDocuments: documents,
    plans.BulkWrite: bulk_written,
    plans.ReplaceRecords: replaced,
    plans.CreateIndexCall: index_named,
    plans.UploadFile: as_is,
    plans.DownloadFile: as_is,
    plans.WatchChanges: as_is,
}


class Calls(dict[type[Any], Callable[..., Any]]):
    """An executor's driver call for each plan type, registered with ``@calls.on(PlanType)``."""

    def on(self, plan_type: type[Any]) -> Callable[[C], C]:
        def register(call: C) -> C:
            self[plan_type] = call
            return call

        return register


Route = tuple[Callable[[Any], plans.Plan], Callable[..., Any], Callable[[Any, Any], Result]]


def routes(calls: Calls) -> dict[type[Op], Route]:
    """Each op's planner, the call of the plan it returns (its return annotation) and that
    answer's shaper, so that running an op costs one lookup; ops whose plans have no call in
    ``calls`` are absent."""
    return {
        op_type: (planner, calls[plan_type], SHAPES[plan_type])
        for op_type, planner in plans.PLANNERS.items()
        if (plan_type := get_type_hints(planner)["return"]) in calls
    }
