"""PartitionSpec: one description of how a table, collection or key family is split.

A spec is backend-neutral. The core validates what holds everywhere (a range needs an interval
or a step, a hash needs a modulus, retention needs time); each backend's
:class:`~dbplex.partition.backend.Partitioner` adds what its database requires (a PostgreSQL
unique key must include the partition key; a MongoDB hashed shard key cannot be unique).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from dbplex.partition.interval import Interval, subtract, utc

Strategy = Literal["range", "list", "hash"]
#: what retention does with a partition whose whole range is past the window.
RetentionMode = Literal["drop", "detach", "archive"]

_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_]+)*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PartitionSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How one table, collection or key family is partitioned and kept.

    ``[partitions.NAME]`` in the configuration, or built in code.
    """

    #: the source (``[sources.NAME]``) that holds the target.
    source: str
    #: table (PostgreSQL), collection (MongoDB) or key family (Redis, e.g. ``live:updates``).
    target: str
    #: ``range`` (time or numeric), ``list`` (named sets of key values) or ``hash`` (a fixed number of buckets).
    strategy: Strategy
    #: the partition key: column, field, or (Redis) the record field that picks the bucket.
    key: str
    #: time ranges: ``"1 hour"``, ``"1 day"``, ``"1 week"``, ``"1 month"``, ``"3 months"``, ``"1 year"``.
    interval: str | None = None
    #: numeric ranges: the width of each partition.
    step: Annotated[int, msgspec.Meta(gt=0)] | None = None
    #: numeric ranges: the lower bound of the first partition (default 0).
    start: int = 0
    #: list partitions: partition suffix -> the key values it holds.
    lists: dict[str, list[str | int]] = {}
    #: hash partitions: how many.
    modulus: Annotated[int, msgspec.Meta(ge=1, le=1024)] | None = None
    #: time ranges: also keep partitions from the one holding this moment, for data older than
    #: now (an ISO date such as ``"2025-01-01"``, or a length such as ``"18 months"`` before now).
    #: Without it a spec starts at the current partition (or at the retention window's start).
    since: str | None = None
    #: range partitions made ahead of the current one (time) or of the highest existing one (numeric).
    premake: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 4
    #: time ranges only: how long data is kept, e.g. ``"90 days"``; None keeps everything.
    retention: str | None = None
    #: what retention does with a partition whose whole range is past the window: ``drop`` it,
    #: ``detach`` it (PostgreSQL: kept as a table; not on MongoDB) or move it to ``archive``.
    retention_mode: RetentionMode = "drop"
    #: where ``retention_mode = "archive"`` moves partitions: a schema (PostgreSQL) or a
    #: collection-name prefix (MongoDB).
    archive: str | None = None
    #: a second key that rows of related targets share, so they land together (Redis hash tag,
    #: MongoDB shard-key prefix, PostgreSQL partition-wise joins).
    colocate: str | None = None
    #: PostgreSQL: keep a DEFAULT partition for rows no other partition takes.
    default: bool = False
    #: unique keys the target declares (lists of columns/fields), checked against the partition key.
    unique: list[list[str]] = []
    #: backend-specific settings (e.g. MongoDB ``layout = "timeseries"``); see each backend's docs.
    options: dict[str, Any] = {}
    #: the name of the spec (its ``[partitions.NAME]`` key); filled in when read from config.
    name: str = ""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def time_interval(self) -> Interval | None:
        """The parsed ``interval`` for time ranges, else None."""
        return Interval.parse(self.interval) if self.interval else None

    @property
    def retention_interval(self) -> Interval | None:
        return Interval.parse(self.retention) if self.retention else None

    def since_moment(self, now: datetime) -> datetime | None:
        """``since`` as a moment (UTC) at ``now``; None when unset."""
        if self.since is None:
            return None
        try:
            moment = datetime.fromisoformat(self.since)
        except ValueError:
            length = Interval.parse(self.since)
            return subtract(utc(now), length.months, length.seconds)
        return utc(moment)

    @property
    def is_time_range(self) -> bool:
        return self.strategy == "range" and self.interval is not None

    @property
    def label(self) -> str:
        """How messages name the spec."""
        return self.name or f"{self.source}.{self.target}"


def _problems(spec: PartitionSpec) -> list[str]:
    """What is wrong with ``spec`` on every backend; empty when it is sound."""
    problems: list[str] = []
    if not _TARGET.fullmatch(spec.target):
        problems.append(f"target {spec.target!r} must be an identifier (Redis key families may use ':' between parts)")
    for field, name in (("key", spec.key), ("colocate", spec.colocate)):
        if name is not None and not _KEY.fullmatch(name):
            problems.append(f"{field} {name!r} must be an identifier")
    if spec.strategy == "range":
        if (spec.interval is None) == (spec.step is None):
            problems.append("a range partitioning needs exactly one of `interval` (time) or `step` (numbers)")
        if spec.interval is not None:
            try:
                Interval.parse(spec.interval)
            except ValueError as exc:
                problems.append(f"interval: {exc}")
    else:
        for field in ("interval", "step"):
            if getattr(spec, field) is not None:
                problems.append(f"`{field}` applies to range partitioning only, not {spec.strategy}")
    if spec.strategy == "list":
        if not spec.lists:
            problems.append("a list partitioning needs `lists`: partition suffix -> values")
        seen: dict[str | int, str] = {}
        for suffix, values in spec.lists.items():
            if not _KEY.fullmatch(suffix):
                problems.append(f"lists: partition suffix {suffix!r} must be an identifier")
            if not values:
                problems.append(f"lists.{suffix}: give at least one value")
            for value in values:
                if value in seen:
                    problems.append(f"lists: value {value!r} is in both {seen[value]!r} and {suffix!r}")
                seen[value] = suffix
    elif spec.lists:
        problems.append(f"`lists` applies to list partitioning only, not {spec.strategy}")
    if spec.strategy == "hash" and spec.modulus is None:
        problems.append("a hash partitioning needs `modulus` (the number of partitions)")
    if spec.strategy != "hash" and spec.modulus is not None:
        problems.append(f"`modulus` applies to hash partitioning only, not {spec.strategy}")
    if spec.retention is not None:
        if not spec.is_time_range:
            problems.append('`retention` needs time ranges (`strategy = "range"` with an `interval`)')
        else:
            try:
                Interval.parse(spec.retention)
            except ValueError as exc:
                problems.append(f"retention: {exc}")
    if spec.since is not None:
        if not spec.is_time_range:
            problems.append('`since` needs time ranges (`strategy = "range"` with an `interval`)')
        else:
            try:
                datetime.fromisoformat(spec.since)
            except ValueError:
                try:
                    Interval.parse(spec.since)
                except ValueError:
                    problems.append(
                        f"since {spec.since!r} is neither an ISO date ('2025-01-01') nor a length ('18 months')"
                    )
    if spec.retention_mode == "archive" and not spec.archive:
        problems.append('retention_mode = "archive" needs `archive` (a schema or collection prefix)')
    if spec.archive and spec.retention_mode != "archive":
        problems.append('`archive` is used only with retention_mode = "archive"')
    if spec.default and spec.strategy == "hash":
        problems.append("a hash partitioning cannot have a default partition (every row has a remainder)")
    return problems
