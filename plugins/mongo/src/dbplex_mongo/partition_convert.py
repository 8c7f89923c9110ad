"""Turn a regular collection into a time-series collection in a migration, and back.

MongoDB cannot change a collection's type, and a time-series collection cannot be renamed, so
the documents move through a staging collection ``<name>_regular``:

    to_timeseries: copy name -> staging, drop name, create the time series, move staging -> name, drop staging
    to_regular:    copy name -> staging, drop name, create the collection,  move staging -> name, drop staging

Every step is decided from what the database holds when the helper starts, so a run that was
interrupted is finished by running the migration again: a partial copy is made again from the
start, a move (insert a batch, then delete it from the staging collection) goes on where it
stopped — a batch may be copied twice if the run stopped between its insert and its delete. Stop
the writers of the collection while it runs. Commands go through ``ctx.execute``, so a dry run
shows them (for the first batch of each copy). A server without time-series collections is
found out first (:func:`dbplex_mongo.partition_layout.probe_timeseries`) and left alone, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dbplex.migrate import MigrationContext
from dbplex.partition.expiry import retention_seconds
from dbplex.partition.spec import PartitionSpec
from dbplex_mongo.partition_layout import probe_timeseries, settled
from dbplex_mongo.partition_options import options_of
from dbplex_mongo.schema import Index, reconcile_indexes

Doc = dict[str, Any]
STAGING = "{}_regular"


def to_timeseries(
    ctx: MigrationContext,
    collection: str,
    *,
    time_field: str,
    meta_field: str | None = None,
    granularity: str | None = None,
    expire_after_seconds: int | None = None,
    indexes: Sequence[Index] = (),
    batch_size: int = 1000,
) -> None:
    """Make ``collection`` a time-series collection holding the documents it holds now."""
    options: Doc = {"timeField": time_field}
    if meta_field:
        options["metaField"] = meta_field
    if granularity:
        options["granularity"] = granularity
    create: Doc = {"create": collection, "timeseries": options}
    if expire_after_seconds is not None:
        create["expireAfterSeconds"] = expire_after_seconds
    found = _types(ctx)
    started = STAGING.format(collection) in found  # an earlier run began: the server has time series
    if found.get(collection) == "timeseries" and not started:
        ctx.note(f"{collection}: already a time-series collection")
        reconcile_indexes(ctx, collection, indexes)
        return
    if not started and not _has_timeseries(ctx, collection):
        return
    _convert(ctx, collection, create, "timeseries", found, batch_size)
    reconcile_indexes(ctx, collection, indexes)


def timeseries_for(ctx: MigrationContext, spec: PartitionSpec, *, indexes: Sequence[Index] = ()) -> None:
    """:func:`to_timeseries` with the settings of a partition spec (``layout = "timeseries"``, or
    ``"auto"`` on a server that makes time series), so that ``dbplex partition`` finds the
    collection as the spec describes it; a spec with another layout converts nothing, and neither
    does an ``auto`` spec whose per-period collections exist already (it stays with them)."""
    options = options_of(spec)
    layout = options.layout_for(spec)
    if layout == "auto":
        found = settled(spec, {c["name"]: c for c in ctx.reader.list_collections()})
        if found is not None and found.name != "timeseries":
            ctx.note(f"{spec.target}: layout auto keeps {found.reason}; nothing to convert")
            return
    elif layout != "timeseries":
        ctx.note(f"{spec.target}: the spec's layout is {layout!r}; nothing to convert")
        return
    to_timeseries(
        ctx,
        spec.target,
        time_field=spec.key,
        meta_field=options.meta_field,
        granularity=options.granularity,
        expire_after_seconds=retention_seconds(spec),
        indexes=indexes,
    )


def to_regular(
    ctx: MigrationContext,
    collection: str,
    *,
    validator: Mapping[str, Any] | None = None,
    indexes: Sequence[Index] = (),
    batch_size: int = 1000,
) -> None:
    """Make a time-series ``collection`` a regular one (with ``validator``: a ``$jsonSchema``
    document) holding the same documents; a regular one is left as it is."""
    create: Doc = {"create": collection}
    if validator is not None:
        create.update(validator={"$jsonSchema": dict(validator)}, validationLevel="strict", validationAction="error")
    found = _types(ctx)
    if found.get(collection) != "timeseries" and STAGING.format(collection) not in found:
        ctx.note(f"{collection}: not a time-series collection; nothing to undo")
        return
    _convert(ctx, collection, create, "collection", found, batch_size)
    reconcile_indexes(ctx, collection, indexes)


def _convert(ctx: MigrationContext, collection: str, create: Doc, kind: str, found: dict[str, str], batch: int) -> None:
    staging = STAGING.format(collection)
    current = found.get(collection)
    if current is not None and current != kind:
        if staging in found:  # a copy that was interrupted: make it again
            ctx.execute({"drop": staging})
        _copy(ctx, collection, staging, batch)
        ctx.execute({"drop": collection})
        current = None
    if current is None:
        ctx.execute(create)
    _move(ctx, staging, collection, batch)
    ctx.execute({"drop": staging})
    ctx.note(f"{collection}: now a {'time-series' if kind == 'timeseries' else 'regular'} collection")


def _copy(ctx: MigrationContext, source: str, target: str, batch: int) -> None:
    """Copy every document, in ``_id`` order, without touching the source (a time series may not
    allow deletes by ``_id``)."""
    reader = ctx.reader[source]
    ctx.note(f"{source}: copying {reader.estimated_document_count()} documents to {target}")
    last: Any = None
    while True:
        ctx.check()
        query = {} if last is None else {"_id": {"$gt": last}}
        documents = list(reader.find(query).sort("_id", 1).limit(batch))
        if not documents:
            return
        ctx.execute({"insert": target, "documents": documents, "ordered": True})
        if ctx.dry_run:
            ctx.note(f"then the next batches of {batch}")
            return
        last = documents[-1]["_id"]


def _move(ctx: MigrationContext, source: str, target: str, batch: int) -> None:
    """Move every document of the (regular) ``source``: insert a batch, then delete it there."""
    if ctx.dry_run and source not in ctx.reader.list_collection_names():
        ctx.note(f"then move the documents of {source} back to {target} in batches of {batch}")
        return
    reader = ctx.reader[source]
    while True:
        ctx.check()
        documents = list(reader.find().sort("_id", 1).limit(batch))
        if not documents:
            return
        ctx.execute({"insert": target, "documents": documents, "ordered": True})
        ids = [document["_id"] for document in documents]
        ctx.execute({"delete": source, "deletes": [{"q": {"_id": {"$in": ids}}, "limit": 0}]})
        if ctx.dry_run:
            ctx.note(f"then the next batches of {batch}")
            return


def _types(ctx: MigrationContext) -> dict[str, str]:
    """Collection name -> type (``collection``, ``timeseries``, ``view``)."""
    return {c["name"]: c.get("type", "collection") for c in ctx.reader.list_collections()}


def _has_timeseries(ctx: MigrationContext, collection: str) -> bool:
    """Whether the server makes time-series collections (noting why not). A dry run cannot probe,
    and assumes so."""
    if ctx.dry_run:
        ctx.note(f"{collection}: converted only if the server has time-series collections")
        return True
    support = probe_timeseries(ctx.conn)
    if not support.makes_timeseries:
        ctx.note(f"{collection}: {support.why}; it stays a regular collection")
    return support.makes_timeseries
