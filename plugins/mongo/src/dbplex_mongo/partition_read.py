"""The reads of a cross-partition query on MongoDB, without I/O: shared by the sync partitioner
(:class:`dbplex_mongo.partition.MongoPartitioner`) and the asyncio reader
(:class:`dbplex_mongo.aio_partition.AsyncMongoPartitionReader`).

Each read is a generator that yields what it needs from the server (:class:`Find`,
:class:`ListNames`, :class:`ListCollections`) and is sent the answer; it returns the listing or
the rows. The sync partitioner answers the steps with pymongo's calls (:func:`dbplex.steps.drive`),
the asyncio reader with ``AsyncDatabase``'s (:func:`~dbplex.steps.adrive`), so both hubs list the same partitions and read the same rows in
the same order with the same finds.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from bson.codec_options import CodecOptions
from msgspec.structs import replace as replace_struct

from dbplex.partition.errors import PlanError
from dbplex.partition.interval import utc
from dbplex.partition.layout import fixed_partitions, layout, time_partition
from dbplex.partition.model import Existing, Inventory, Partition
from dbplex.partition.naming import from_name
from dbplex.partition.query import Condition, PartitionQuery
from dbplex.partition.spec import PartitionSpec
from dbplex_mongo import partition_render as render
from dbplex_mongo.partition_layout import LayoutChoice, declared, settled
from dbplex_mongo.partition_options import MongoPartitionOptions, options_of

Doc = dict[str, Any]
T = TypeVar("T")
#: datetimes come back aware and in UTC, as the core compares them with aware bounds.
UTC: CodecOptions[Doc] = CodecOptions(tz_aware=True, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Find:
    """``collection.find(filter, projection)``, sorted and limited when given: its documents, as a list."""

    collection: str
    filter: Doc
    projection: Doc | None = None
    sort: list[tuple[str, int]] | None = None
    limit: int | None = None


@dataclass(frozen=True)
class ListNames:
    """``list_collection_names()``: the database's collection names, as a list."""


@dataclass(frozen=True)
class ListCollections:
    """``list_collections()``: the database's collections by name (filtered by the reader: not
    every server honours a filter)."""


Step = Find | ListNames | ListCollections
#: a read: yields steps, is sent their answers, returns a ``T`` (run by :func:`dbplex.steps.drive`
#: or :func:`~dbplex.steps.adrive`).
Steps = Generator[Step, Any, T]


def doing(step: Step) -> str:
    """What a step does, for error messages: ``reading logs_2026_12_01``, ``listing collections``."""
    return f"reading {step.collection}" if isinstance(step, Find) else "listing collections"


def by_name(collections: Iterable[Mapping[str, Any]]) -> dict[str, Doc]:
    """``listCollections``' documents by collection name."""
    return {c["name"]: dict(c) for c in collections}


def options(spec: PartitionSpec) -> MongoPartitionOptions:
    """The spec's MongoDB options; a malformed one is the spec's :class:`PlanError`."""
    try:
        return options_of(spec)
    except ValueError as exc:
        raise PlanError(spec.label, [str(exc)]) from None


def layout_of(spec: PartitionSpec, chosen: dict[str, LayoutChoice]) -> Steps[str | None]:
    """The layout a query reads ``spec`` under without probing the server: the declared one, the
    one ``chosen`` remembers for the label, or what the database holds (remembered in ``chosen``);
    None for an ``auto`` spec whose database holds neither a time series nor period collections,
    which has no partitions to read."""
    choice = declared(spec, options(spec)) or chosen.get(spec.label)
    if choice is None:
        choice = settled(spec, (yield ListCollections()))
        if choice is None:
            return None
        chosen[spec.label] = choice
    return choice.name


def listing(spec: PartitionSpec, layout_name: str | None, now: datetime | None = None) -> Steps[Inventory]:
    """The partitions a query reads under ``layout_name`` (None: an ``auto`` spec the database has
    not decided, so nothing to read), from the catalog alone: per-period collections by name; for
    one collection or time series its virtual partitions (reaching back to the oldest document,
    one indexed find, when nothing expires). A hash spec is one collection that MongoDB spreads
    with its own hash function, so it lists one partition, ``h0``, which reads the whole collection."""
    inventory = Inventory()
    if layout_name is None:
        return inventory
    if layout_name == "collections":
        names = yield ListNames()
        inventory.partitions = [Existing(p) for p in (from_name(spec, n) for n in sorted(names)) if p is not None]
        return inventory
    collections = yield ListCollections()
    if spec.target not in collections:
        return inventory
    moment = moment_of(now)
    if spec.strategy == "hash":
        inventory.partitions = [Existing(fixed_partitions(spec)[0])]
    elif spec.is_time_range:
        keeps_all = layout_name == "timeseries" and spec.retention
        oldest = None if keeps_all else (yield from edge(spec.target, spec.key, 1))
        inventory.partitions = [Existing(p) for p in periods(spec, oldest, moment)]
    else:
        highest = (yield from edge(spec.target, spec.key, -1)) if spec.strategy == "range" else None
        wanted = layout(spec, moment, highest if isinstance(highest, int) else None).wanted
        inventory.partitions = [Existing(p) for p in wanted]
    return inventory


def fetch(
    spec: PartitionSpec, layout_name: str | None, partition: Partition, query: PartitionQuery
) -> Steps[list[Doc]]:
    """The rows of ``partition`` that ``query`` asks for: its collection, or its bounds in the
    target. MongoDB hashes with its own function, so a hash target is read once, by ``h0`` (the one
    hash partition :func:`listing` reports, and where ``remainder`` sends every value)."""
    if layout_name == "collections":
        name, extra = partition.name, None
    elif partition.kind == "hash":
        if partition.remainder != 0:
            return []
        name, extra = spec.target, None
    else:
        name, extra = spec.target, render.bounds(spec, partition)
    rows = yield from sorted_top(name, query, extra)
    if query.fields is None:
        return rows
    return [{f: row[f] for f in query.fields if f in row} for row in rows]


def remainder(spec: PartitionSpec, value: Any) -> int | None:
    """Hash specs: 0, the partition that reads the whole collection (MongoDB hashes with its own
    function); a query pinning the key reads it alone. None for other strategies."""
    return 0 if spec.strategy == "hash" else None


def edge(name: str, key: str, direction: int) -> Steps[Any]:
    """The smallest (1) or largest (-1) value of ``key`` in collection ``name``."""
    found = yield Find(name, {key: {"$ne": None}}, {key: 1}, [(key, direction)], 1)
    return found[0].get(key) if found else None


def sorted_top(name: str, query: PartitionQuery, extra: Doc | None) -> Steps[list[Doc]]:
    """At least the first ``limit`` rows in the core's order, whose None sorts after every value
    ascending and before every value descending, while MongoDB sorts null first ascending.

    With a limit, the first order field splits the rows: those where it is null (ordered by the
    rest, recursively) and the others, whose MongoDB order agrees with the core's except inside the
    tie group at the cut, which is read again ordered by the rest. Every read is an indexable
    ``find`` with ``sort`` and ``limit``; the core sorts the union and applies the limit.
    """
    order, limit = query.order_by, query.limit
    if not order or limit is None:
        sort = render.sort_of(order) if order else None
        found: list[Doc] = yield Find(name, render.query_filter(query, extra), render.projection(query), sort, limit)
        return found
    if limit == 0:
        return []
    first, rest = order[0], order[1:]

    def narrowed(condition: Condition, rest_limit: int | None = limit) -> PartitionQuery:
        return replace_struct(query, where=[*query.where, condition], order_by=rest, limit=rest_limit)

    nulls = yield from sorted_top(name, narrowed(Condition(first.field, "==", None)), extra)
    present = render.query_filter(query, extra, render.present(first.field))
    values: list[Doc] = yield Find(name, present, render.projection(query), render.sort_of(order), limit)
    if rest and len(values) == limit:
        cut = values[-1].get(first.field)
        before = [row for row in values if row.get(first.field) != cut]
        values = before + (
            yield from sorted_top(name, narrowed(Condition(first.field, "==", cut), limit - len(before)), extra)
        )
    return values + nulls


def moment_of(now: datetime | None) -> datetime:
    """``now`` (the moment a plan or a write is for: ``--now``) in UTC, else the clock."""
    return utc(now) if now is not None else datetime.now(timezone.utc)


def periods(spec: PartitionSpec, oldest: Any, now: datetime) -> list[Partition]:
    """The virtual periods of a single collection: the layout at ``now``, reaching back to the oldest row."""
    wanted = [p for p in layout(spec, now).wanted if p.kind == "range"]
    interval = spec.time_interval
    if not isinstance(oldest, datetime) or interval is None or not wanted:
        return wanted
    first = wanted[0]
    assert isinstance(first.lower, datetime)
    earlier: list[Partition] = []
    lower = interval.floor(oldest)
    while lower < first.lower:
        earlier.append(time_partition(spec, lower))
        lower = interval.add(lower)
    return earlier + wanted
