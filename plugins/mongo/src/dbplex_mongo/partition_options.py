"""``options`` of a MongoDB partition spec, and what MongoDB cannot do with a spec. No I/O.

Layouts:

- ``collections`` (default for range and list): one collection per partition, named
  :attr:`Partition.name` (``logs_p2026_11``); retention drops it or renames it to ``archive``
  + name. New ones copy the validator and indexes of ``template`` when given.
- ``timeseries`` (time ranges): one time-series collection, ``target``, with ``timeField = key``,
  ``metaField``, ``granularity``, and retention as ``expireAfterSeconds``; its periods are
  virtual partitions (filters on the time field) for cross-partition queries.
- ``collection`` (default for hash): one collection; its partitions are virtual, and MongoDB's
  sharding (a hashed or ranged shard key, zones) spreads it over shards.
- ``auto`` (time ranges): ``timeseries`` where the server makes time-series collections,
  ``collections`` otherwise; the partitioner decides against the server
  (:mod:`dbplex_mongo.partition_layout`), so a spec is checked here against both.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from dbplex.partition.spec import PartitionSpec

#: a layout as the database holds it.
LayoutName = Literal["collections", "timeseries", "collection"]
#: what a spec may ask for: a layout, or ``auto`` (decided against the server).
LayoutOption = Literal["collections", "timeseries", "collection", "auto"]
Granularity = Literal["seconds", "minutes", "hours"]


class MongoPartitionOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``[partitions.NAME.options]`` of a spec whose source is MongoDB."""

    #: see the module docstring; None picks ``collections`` (``collection`` for hash).
    layout: LayoutOption | None = None
    #: time series: the field holding each measurement's metadata (its source, level, ...).
    meta_field: str | None = None
    #: time series: bucket granularity; None leaves MongoDB's default (``seconds``).
    granularity: Granularity | None = None
    #: collections: an existing collection whose validator and indexes each new partition copies.
    template: str | None = None
    #: issue ``shardCollection`` (and zones) on a sharded cluster; None: only for hash.
    shard: bool | None = None
    #: layout ``collection``: partition label -> zone name, a zone range per partition.
    zones: dict[str, str] = {}

    def layout_for(self, spec: PartitionSpec) -> LayoutOption:
        """The layout the spec asks for (``auto`` is resolved by the partitioner, not here)."""
        if self.layout is not None:
            return self.layout
        return "collection" if spec.strategy == "hash" else "collections"

    def shards(self, spec: PartitionSpec) -> bool:
        return self.shard if self.shard is not None else spec.strategy == "hash"


def options_of(spec: PartitionSpec) -> MongoPartitionOptions:
    """The spec's options as :class:`MongoPartitionOptions`; raises ValueError naming the bad field."""
    try:
        return msgspec.convert(spec.options, MongoPartitionOptions)
    except msgspec.ValidationError as exc:
        raise ValueError(f"options: {exc}") from None


def problems(spec: PartitionSpec) -> list[str]:
    """What MongoDB cannot do with ``spec``; empty when it can."""
    try:
        options = options_of(spec)
    except ValueError as exc:
        return [str(exc)]
    found: list[str] = []
    layout = options.layout_for(spec)
    if spec.strategy == "hash":
        found += [
            f"a hashed shard key cannot be unique: unique {list(fields)} contains the hash key {spec.key!r} "
            '(MongoDB enforces uniqueness only on ranged shard keys: use strategy = "range", or drop the unique key)'
            for fields in spec.unique
            if spec.key in fields
        ]
        if layout != "collection":
            found.append(
                'hash partitioning on MongoDB is a hashed shard key on one collection: use layout = "collection"'
            )
    if spec.retention_mode == "detach":
        found.append('MongoDB has no detach: use retention_mode = "drop", or "archive" with layout = "collections"')
    if spec.retention_mode == "archive" and layout != "collections":
        found.append(
            f'retention_mode = "archive" renames whole collections: it needs layout = "collections", not {layout!r}'
        )
    if spec.default and layout != "collections":
        found.append(f'a default partition is a collection of its own: it needs layout = "collections", not {layout!r}')
    if layout == "timeseries":
        found += _timeseries_problems(spec, options)
    elif layout == "auto":
        found += _auto_problems(spec, options)
    elif options.meta_field or options.granularity:
        found.append(f'meta_field and granularity apply to layout = "timeseries" or "auto" only, not {layout!r}')
    if options.template is not None and layout not in ("collections", "auto"):
        found.append(f'template applies to layout = "collections" or "auto" only, not {layout!r}')
    if options.zones:
        if layout != "collection" or spec.strategy == "hash":
            found.append('zones apply to range and list partitions of layout = "collection" only')
        if spec.colocate:
            found.append("zones need the partition key alone as the shard key; they cannot be used with colocate")
    return found


def _timeseries_problems(spec: PartitionSpec, options: MongoPartitionOptions) -> list[str]:
    found: list[str] = []
    if not spec.is_time_range:
        found.append('layout = "timeseries" needs time ranges (strategy = "range" with an interval)')
    if options.meta_field == spec.key:
        found.append(f"meta_field {options.meta_field!r} must differ from the time field (the key)")
    if spec.unique:
        found.append("time-series collections cannot have unique indexes: remove `unique`")
    if spec.colocate and options.shards(spec) and spec.colocate != options.meta_field:
        found.append(
            f"colocate {spec.colocate!r}: a time-series shard key may use only the metaField and the time field; "
            f"set meta_field = {spec.colocate!r} or drop colocate"
        )
    return found


def _auto_problems(spec: PartitionSpec, options: MongoPartitionOptions) -> list[str]:
    """``auto`` may become a time series on one server and per-period collections on another: the
    spec must suit both, so what a time series cannot do is refused here too."""
    if not spec.is_time_range:
        return [
            'layout = "auto" picks a time series or a collection per period: it needs time ranges '
            '(strategy = "range" with an interval)'
        ]
    return [
        f'layout = "auto" may pick a time series: {problem} (or set layout = "collections")'
        for problem in _timeseries_problems(spec, options)
    ]
