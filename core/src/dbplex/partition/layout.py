"""Which partitions a spec wants to exist at a given moment, and which are past retention.

Pure functions of the spec and the clock: every host running ``maintain`` at the same time
computes the same answer, which is what makes concurrent maintenance safe to reason about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from dbplex.partition.interval import subtract, utc
from dbplex.partition.model import Partition
from dbplex.partition.spec import PartitionSpec


@dataclass(frozen=True)
class Layout:
    """The partitions a spec wants now, and the retention cutoff."""

    wanted: list[Partition]
    #: time ranges with retention: a partition whose upper bound is at or before this holds
    #: only expired rows and is retired. None when nothing expires.
    cutoff: datetime | None
    #: the end of the premade horizon (time ranges), or None.
    horizon: datetime | int | None


def time_partition(spec: PartitionSpec, lower: datetime) -> Partition:
    """The time partition of ``spec`` starting at ``lower`` (which must be aligned)."""
    interval = spec.time_interval
    assert interval is not None, "time_partition needs a spec with an interval"
    return Partition(
        target=spec.target, kind="range", label=interval.label(lower), lower=lower, upper=interval.add(lower)
    )


def number_partition(spec: PartitionSpec, lower: int) -> Partition:
    """The numeric range partition of ``spec`` starting at ``lower`` (a multiple of the step from start)."""
    assert spec.step is not None, "number_partition needs a spec with a step"
    return Partition(target=spec.target, kind="range", label=str(lower), lower=lower, upper=lower + spec.step)


def partition_for(spec: PartitionSpec, value: datetime | int) -> Partition | None:
    """The range or list partition a key value belongs to; None for hash (the database decides)."""
    if spec.is_time_range:
        interval = spec.time_interval
        assert interval is not None and isinstance(value, datetime)
        return time_partition(spec, interval.floor(value))
    if spec.strategy == "range":
        assert spec.step is not None and isinstance(value, int)
        return number_partition(spec, spec.start + (value - spec.start) // spec.step * spec.step)
    if spec.strategy == "list":
        for partition in fixed_partitions(spec):
            if partition.holds(value):
                return partition
    return None


def partition_of(spec: PartitionSpec, value: object) -> Partition | None:
    """Like :func:`partition_for` for a key value as a row holds it: None for a value of the wrong
    type (a time range needs a datetime, taken as UTC when naive; a numeric range an int, not a bool)."""
    if spec.is_time_range:
        return partition_for(spec, utc(value)) if isinstance(value, datetime) else None
    if spec.strategy == "range" and (not isinstance(value, int) or isinstance(value, bool)):
        return None
    return partition_for(spec, value)  # type: ignore[arg-type]


def fixed_partitions(spec: PartitionSpec) -> list[Partition]:
    """List and hash partitions (and the default one): they do not move with time."""
    parts: list[Partition] = []
    if spec.strategy == "list":
        parts = [
            Partition(target=spec.target, kind="list", label=suffix, values=tuple(values))
            for suffix, values in spec.lists.items()
        ]
    elif spec.strategy == "hash":
        assert spec.modulus is not None
        parts = [
            Partition(target=spec.target, kind="hash", label=f"h{r}", modulus=spec.modulus, remainder=r)
            for r in range(spec.modulus)
        ]
    if spec.default:
        parts.append(Partition(target=spec.target, kind="default", label="default"))
    return parts


def layout(spec: PartitionSpec, now: datetime, highest: int | None = None) -> Layout:
    """The partitions ``spec`` wants at ``now``.

    Time ranges: from the oldest partition still inside retention (or the current one when
    nothing expires) through ``premake`` partitions ahead. Numeric ranges: from ``start`` through
    ``premake`` partitions beyond the one holding ``highest`` (the largest key present).
    """
    wanted = fixed_partitions(spec)
    if spec.is_time_range:
        interval = spec.time_interval
        assert interval is not None
        now = utc(now)
        current = interval.floor(now)
        retention = spec.retention_interval
        cutoff = None
        first = current
        if retention is not None:
            cutoff = subtract(now, retention.months, retention.seconds)
            first = interval.floor(cutoff)
        since = spec.since_moment(now)
        if since is not None:
            start = interval.floor(since)
            # never after the current partition (a `since` in the future), never before the window
            first = min(max(start, first), current) if cutoff is not None else min(start, current)
        lower = first
        horizon = interval.add(current, spec.premake + 1)
        while lower < horizon:
            wanted.append(time_partition(spec, lower))
            lower = interval.add(lower)
        return Layout(wanted=wanted, cutoff=cutoff, horizon=horizon)
    if spec.strategy == "range":
        assert spec.step is not None
        top = spec.start if highest is None or highest < spec.start else highest
        last = spec.start + (top - spec.start) // spec.step * spec.step + spec.premake * spec.step
        wanted += [number_partition(spec, lower) for lower in range(spec.start, last + 1, spec.step)]
        return Layout(wanted=wanted, cutoff=None, horizon=last + spec.step)
    return Layout(wanted=wanted, cutoff=None, horizon=None)


def far_future(spec: PartitionSpec, value: object, now: datetime) -> str | None:
    """Why a row with key ``value`` is refused at ``now``, or None when it is acceptable.

    Time ranges refuse keys at or beyond the premade horizon (the end of the last partition
    ``maintain`` keeps ahead): such a key is almost always a bug (a year typed wrong, seconds
    taken for milliseconds), and on PostgreSQL with a default partition it would land there
    silently. Keys are refused before any backend sees them; a backend also refuses rows whose
    partition does not exist.

    A ``date`` key counts as its midnight UTC. A time-range key that is neither a datetime nor a
    date (ISO text, a number) is refused here too: the backends would store text where a time
    belongs, or route it nowhere, and the horizon could not be checked.
    """
    if not spec.is_time_range or value is None:
        return None  # a missing key is the backend's to refuse (no partition takes it)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, datetime):
        return (
            f"{spec.key} = {value!r} is a {type(value).__name__}; a time-range key must be a datetime or a date "
            "(parse ISO text first, e.g. datetime.fromisoformat)"
        )
    horizon = layout(spec, now).horizon
    assert isinstance(horizon, datetime)
    if utc(value) >= horizon:
        return (
            f"{spec.key} = {utc(value).isoformat()} is beyond the premade horizon {horizon.isoformat()} "
            f"(premake = {spec.premake} x {spec.interval}); far-future keys are refused: check the value, "
            "or raise `premake` and run `dbplex partition maintain`"
        )
    return None
