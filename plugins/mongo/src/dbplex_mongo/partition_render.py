"""MongoDB partitioning as command documents: pure functions of the spec, no I/O.

Every action's ``payload`` is a list of :class:`Command`; ``commands`` is the same list as the
shell would show it, so ``dbplex partition plan`` prints exactly what ``apply`` sends. A command
that needs a sharded cluster, rendered while connected to a lone server or replica set, carries
``skip`` and is shown as "would run on a sharded cluster" instead of being sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bson import MaxKey, MinKey, json_util

from dbplex.partition.expiry import retention_seconds
from dbplex.partition.model import Partition
from dbplex.partition.query import Condition, Order, PartitionQuery
from dbplex.partition.spec import PartitionSpec
from dbplex_mongo.partition_options import MongoPartitionOptions

Doc = dict[str, Any]
_SHELL_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
_OPERATORS = {"==": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "in": "$in"}
#: NamespaceExists: ``create`` of a collection that is already there (with other options).
NAMESPACE_EXISTS = 48
WOULD_SHARD = "would run on a sharded cluster (this server is not a mongos)"


@dataclass(frozen=True)
class Command:
    """One command document, where it runs, and which server errors mean "already done"."""

    document: Doc
    admin: bool = False
    #: error codes that mean the command's effect is already there.
    done_codes: frozenset[int] = frozenset()
    #: why it is shown but not sent; None sends it.
    skip: str | None = None

    def text(self) -> str:
        call = "db.adminCommand" if self.admin else "db.runCommand"
        shown = f"{call}({json_util.dumps(self.document, json_options=_SHELL_JSON)})"
        return f"// {self.skip}: {shown}" if self.skip else shown


# -- collections ---------------------------------------------------------------------------------


def create_collection(name: str, template: Doc | None = None) -> Command:
    """``create`` with the template's validator (``listCollections`` options of the template)."""
    document: Doc = {"create": name}
    for option in ("validator", "validationLevel", "validationAction"):
        if template and option in template:
            document[option] = template[option]
    return Command(document, done_codes=frozenset({NAMESPACE_EXISTS}))


def create_indexes(name: str, indexes: list[Doc]) -> Command | None:
    """``createIndexes`` copying the template's indexes (``listIndexes`` documents), without ``_id_``."""
    copied = [
        {k: v for k, v in index.items() if k not in ("v", "ns")} for index in indexes if index.get("name") != "_id_"
    ]
    return Command({"createIndexes": name, "indexes": copied}) if copied else None


def timeseries_create(spec: PartitionSpec, options: MongoPartitionOptions) -> Command:
    """``create`` of the time-series collection, with retention as ``expireAfterSeconds``."""
    document: Doc = {"create": spec.target, "timeseries": timeseries_options(spec, options)}
    expire = retention_seconds(spec)
    if expire is not None:
        document["expireAfterSeconds"] = expire
    return Command(document, done_codes=frozenset({NAMESPACE_EXISTS}))


def timeseries_options(spec: PartitionSpec, options: MongoPartitionOptions) -> Doc:
    document: Doc = {"timeField": spec.key}
    if options.meta_field:
        document["metaField"] = options.meta_field
    if options.granularity:
        document["granularity"] = options.granularity
    return document


def timeseries_retention(spec: PartitionSpec) -> Command:
    """``collMod`` setting ``expireAfterSeconds`` to the spec's retention (``"off"`` without one)."""
    expire = retention_seconds(spec)
    return Command({"collMod": spec.target, "expireAfterSeconds": "off" if expire is None else expire})


def timeseries_granularity(spec: PartitionSpec, granularity: str) -> Command:
    return Command({"collMod": spec.target, "timeseries": {"granularity": granularity}})


def drop(name: str) -> Command:
    return Command({"drop": name})


def archive(database: str, name: str, prefix: str) -> Command:
    """``renameCollection`` to the archive prefix (within the database)."""
    return Command({"renameCollection": f"{database}.{name}", "to": f"{database}.{prefix}{name}"}, admin=True)


def delete_range(spec: PartitionSpec, partition: Partition) -> Command:
    """Delete one virtual partition's documents (retention on a single collection or a time series)."""
    return Command({"delete": spec.target, "deletes": [{"q": bounds(spec, partition), "limit": 0}]})


# -- sharding ------------------------------------------------------------------------------------


def shard_key(spec: PartitionSpec, options: MongoPartitionOptions) -> Doc:
    """``colocate`` first (so related documents share chunks), then the key: hashed for hash partitions."""
    key: Doc = {spec.colocate: 1} if spec.colocate else {}
    key[spec.key] = "hashed" if spec.strategy == "hash" else 1
    if options.layout_for(spec) == "timeseries" and options.meta_field and not spec.colocate:
        key = {options.meta_field: 1, spec.key: 1}
    return key


def shard_collection(
    spec: PartitionSpec, options: MongoPartitionOptions, database: str, name: str, *, mongos: bool
) -> Command:
    document: Doc = {"shardCollection": f"{database}.{name}", "key": shard_key(spec, options)}
    if options.layout_for(spec) == "timeseries":
        document["timeseries"] = timeseries_options(spec, options)
    return Command(document, admin=True, skip=None if mongos else WOULD_SHARD)


def zone_ranges(
    spec: PartitionSpec, options: MongoPartitionOptions, database: str, partitions: list[Partition], *, mongos: bool
) -> list[Command]:
    """``updateZoneKeyRange`` for each partition named in ``zones`` (the zones must have shards:
    ``addShardToZone`` is the cluster operator's part)."""
    commands: list[Command] = []
    skip = None if mongos else WOULD_SHARD
    for partition in partitions:
        zone = options.zones.get(partition.label)
        if zone is None:
            continue
        for low, high in _zone_bounds(partition):
            document = {
                "updateZoneKeyRange": f"{database}.{spec.target}",
                "min": {spec.key: low},
                "max": {spec.key: high},
                "zone": zone,
            }
            commands.append(Command(document, admin=True, skip=skip))
    return commands


def _zone_bounds(partition: Partition) -> list[tuple[Any, Any]]:
    if partition.kind == "range":
        low = MinKey() if partition.lower is None else partition.lower
        return [(low, MaxKey() if partition.upper is None else partition.upper)]
    # a list value v is the range [v, next value): v + 1 for integers, v + "\0" for strings
    return [(v, v + 1 if isinstance(v, int) else f"{v}\0") for v in partition.values]


# -- queries -------------------------------------------------------------------------------------


def condition_filter(condition: Condition) -> Doc:
    return {condition.field: {_OPERATORS[condition.op]: condition.value}}


def query_filter(query: PartitionQuery, *extras: Doc | None) -> Doc:
    """The ``find`` filter: every condition ANDed, plus the ``extras``. Conditions on one field share one
    operator document (two lower bounds keep the tighter), so the filter reads like a hand-written
    one; only what cannot merge (two ``$eq`` on a field) goes into ``$and``."""
    merged: Doc = {}
    rest: list[Doc] = []
    parts = [condition_filter(c) for c in query.where] + [extra for extra in extras if extra]
    for part in parts:
        for field, operators in part.items():
            target: Doc = merged.setdefault(field, {})
            for operator, value in operators.items():
                if operator not in target:
                    target[operator] = value
                elif not _tighten(target, operator, value):
                    rest.append({field: {operator: value}})
    return {**merged, "$and": rest} if rest else merged


def _tighten(target: Doc, operator: str, value: Any) -> bool:
    """Keep the tighter of two bounds of one kind; False when they cannot be merged."""
    pick = {"$gt": max, "$gte": max, "$lt": min, "$lte": min}.get(operator)
    if pick is None:
        return bool(target[operator] == value)
    try:
        target[operator] = pick(target[operator], value)
    except TypeError:
        return False
    return True


def present(field: str) -> Doc:
    """Rows whose ``field`` exists and is not null (``$ne: null`` would do on MongoDB, not on nx-27017)."""
    return {field: {"$nin": [None]}}


def bounds(spec: PartitionSpec, partition: Partition) -> Doc:
    """The filter a virtual partition adds: its key range or list values."""
    if partition.kind == "list":
        return {spec.key: {"$in": list(partition.values)}}
    found: Doc = {}
    if partition.lower is not None:
        found["$gte"] = partition.lower
    if partition.upper is not None:
        found["$lt"] = partition.upper
    return {spec.key: found} if found else {}


def sort_of(order: Sequence[Order]) -> list[tuple[str, int]]:
    return [(o.field, -1 if o.direction == "desc" else 1) for o in order]


def projection(query: PartitionQuery) -> Doc | None:
    """``fields``, plus the order fields (a sorted read needs them; :meth:`fetch` trims them)."""
    if query.fields is None:
        return None
    shown: Doc = dict.fromkeys([*query.fields, *(o.field for o in query.order_by)], 1)
    if "_id" not in query.fields:
        shown["_id"] = 0
    return shown
