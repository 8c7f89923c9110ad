"""Cross-partition queries: prune by the partition key, fetch from each candidate, merge in order.

Pruning reads the conditions on the spec's key (``==``, ``in``, ``<``, ``<=``, ``>``, ``>=``;
``!=`` prunes list partitions only) and keeps each partition that *can* hold a matching row:

- a range partition ``[lower, upper)`` when the key's allowed interval meets it;
- a list partition when one of its values satisfies every key condition;
- a hash partition always, unless the partitioner can name a value's remainder
  (an optional ``remainder(spec, value)`` method) and the key is pinned by ``==`` / ``in``;
- the default partition always, unless the inventory says the database keeps it exclusive
  (``Inventory.default_exclusive``: PostgreSQL refuses a row in the default partition that another
  partition takes) and the key's allowed values lie inside the attached range and list partitions.

Each candidate runs the query pushed down (``limit + offset`` rows, no offset), in threads
(:func:`query`) or concurrently on the async hub's loop; :func:`plan` and :meth:`Scatter.result`
are what both share, without I/O.
The sorted streams are merged with :func:`heapq.merge` by the global order, then ``offset`` and
``limit`` apply: the result equals the same query on one unpartitioned table.

Ordering semantics (every backend sorts each partition the same way): values compare with
Python's ``<``; ``None`` (or a missing field) sorts after every value in ascending order and
before every value in descending order — PostgreSQL's default ``NULLS LAST`` / ``NULLS FIRST``.
Rows equal in every order field keep partition order (lower ranges first). Without
``order_by`` rows come partition after partition, and limit/offset apply to that sequence.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from dbplex.errors import OpError
from dbplex.partition.backend import Partitioner, hash_routing
from dbplex.partition.interval import utc
from dbplex.partition.model import Inventory, Partition
from dbplex.partition.query import Condition, Order, PartitionQuery
from dbplex.partition.spec import PartitionSpec

#: partitions fetched at once.
MAX_THREADS = 8
_RANGE_OPS = ("<", "<=", ">", ">=")


@dataclass
class ScatterResult:
    """Rows of a cross-partition query, and which partitions were read and which pruned."""

    rows: list[dict[str, Any]]
    scanned: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


# -- key predicates ----------------------------------------------------------------------------


def normalize(spec: PartitionSpec, query: PartitionQuery) -> PartitionQuery:
    """``query`` with key values of a time-range spec as aware UTC datetimes (ISO strings accepted)."""
    if not spec.is_time_range:
        return query

    def moment(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise OpError(f"{spec.key}: {value!r} is not an ISO date or time") from None
        return utc(value) if isinstance(value, datetime) else value

    where = [
        Condition(c.field, c.op, [moment(v) for v in c.value] if c.op == "in" else moment(c.value))
        if c.field == spec.key
        else c
        for c in query.where
    ]
    return msgspec.structs.replace(query, where=where)


@dataclass
class KeyRange:
    """What the conditions allow for the key: an interval (bounds may be open) and a finite set."""

    low: Any = None
    low_inclusive: bool = True
    high: Any = None
    high_inclusive: bool = True
    #: None: any value in the interval; else only these.
    values: set[Any] | None = None
    excluded: set[Any] = field(default_factory=set)
    empty: bool = False

    def allows(self, value: Any) -> bool:
        """Whether a key equal to ``value`` satisfies every condition."""
        if self.empty or value in self.excluded:
            return False
        if self.values is not None and value not in self.values:
            return False
        try:
            if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
                return False
            if self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)):
                return False
        except TypeError:
            return True  # incomparable types: keep it (pruning must never drop a match)
        return True

    def meets(self, lower: Any, upper: Any) -> bool:
        """Whether some key in ``[lower, upper)`` can satisfy every condition (may say yes wrongly, never no)."""
        if self.empty:
            return False
        try:
            if self.values is not None:
                return any(
                    (lower is None or v >= lower) and (upper is None or v < upper) and self.allows(v)
                    for v in self.values
                )
            if self.low is not None and upper is not None and self.low >= upper:
                return False
            if (
                self.high is not None
                and lower is not None
                and (self.high < lower or (self.high == lower and not self.high_inclusive))
            ):
                return False
        except TypeError:
            return True
        return True


def key_range(spec: PartitionSpec, where: Sequence[Condition]) -> KeyRange:
    """Fold the conditions on ``spec.key`` into one :class:`KeyRange`."""
    found = KeyRange()
    for condition in where:
        if condition.field != spec.key:
            continue
        op, value = condition.op, condition.value
        try:
            if op == "==":
                _restrict(found, {value})
            elif op == "in":
                _restrict(found, set(value))
            elif op == "!=":
                found.excluded.add(value)
            elif op in (">", ">="):
                inclusive = op == ">="
                if found.low is None or value > found.low or (value == found.low and not inclusive):
                    found.low, found.low_inclusive = value, inclusive
            elif op in ("<", "<="):
                inclusive = op == "<="
                if found.high is None or value < found.high or (value == found.high and not inclusive):
                    found.high, found.high_inclusive = value, inclusive
        except TypeError:
            continue  # an unhashable or incomparable value: no pruning from this condition
    try:
        if (
            found.low is not None
            and found.high is not None
            and (
                found.low > found.high
                or (found.low == found.high and not (found.low_inclusive and found.high_inclusive))
            )
        ):
            found.empty = True
        if found.values is not None:
            found.values = {v for v in found.values if found.allows(v)}
            found.empty = found.empty or not found.values
    except TypeError:
        pass
    return found


def _restrict(found: KeyRange, values: set[Any]) -> None:
    found.values = values if found.values is None else found.values & values


def candidates(
    spec: PartitionSpec,
    partitions: Sequence[Partition],
    query: PartitionQuery,
    partitioner: Any = None,
    *,
    default_exclusive: bool = False,
) -> tuple[list[Partition], list[Partition]]:
    """(partitions that can hold a matching row, partitions pruned), in partition order.

    The default partition is pruned only with ``default_exclusive`` (the database guarantees it
    holds no key another partition takes) and when every allowed key falls in another partition.
    """
    allowed = key_range(spec, query.where)
    ranges = sorted(
        (p for p in partitions if p.kind == "range" and p.lower is not None and p.upper is not None),
        key=lambda p: p.lower,  # type: ignore[arg-type,return-value]
    )
    keep: list[Partition] = []
    drop: list[Partition] = []
    remainders = _remainders(spec, allowed, partitioner)
    for partition in _ordered(partitions):
        if partition.kind == "range":
            ok = allowed.meets(partition.lower, partition.upper)
        elif partition.kind == "list":
            ok = any(allowed.allows(v) for v in partition.values)
        elif partition.kind == "hash":
            ok = not allowed.empty and (remainders is None or partition.remainder in remainders)
        else:
            ok = not allowed.empty and not (default_exclusive and _covered(allowed, ranges, partitions))
        (keep if ok else drop).append(partition)
    return keep, drop


def _ordered(partitions: Iterable[Partition]) -> list[Partition]:
    def rank(p: Partition) -> tuple[int, Any, str]:
        if p.kind == "range":
            lower = p.lower
            return (1, lower.timestamp() if isinstance(lower, datetime) else lower, p.label)
        return ({"list": 0, "hash": 0}.get(p.kind, 2), 0, p.label)

    return sorted(partitions, key=rank)


def _remainders(spec: PartitionSpec, allowed: KeyRange, partitioner: Any) -> set[int] | None:
    """The hash remainders a pinned key can have, when the partitioner can compute them."""
    routing = hash_routing(partitioner)
    if spec.strategy != "hash" or allowed.values is None or routing is None:
        return None
    found: set[int] = set()
    for value in allowed.values:
        remainder = routing.remainder(spec, value)
        if remainder is None:
            return None
        found.add(int(remainder))
    return found


def _covered(allowed: KeyRange, ranges: Sequence[Partition], partitions: Sequence[Partition]) -> bool:
    """Whether every key the conditions allow falls in a list or range partition (so not in the default one)."""
    lists = [p for p in partitions if p.kind == "list"]
    if allowed.values is not None:
        return all(any(p.holds(v) for p in [*ranges, *lists]) for v in allowed.values)
    if allowed.low is None or allowed.high is None or not ranges:
        return False
    # walk the attached ranges from the one holding `low`; a gap before `high` means not covered
    position = allowed.low
    try:
        for partition in ranges:
            assert partition.lower is not None and partition.upper is not None
            if partition.upper <= position:
                continue
            if partition.lower > position:
                return False
            position = partition.upper
            if position > allowed.high:
                return True
    except TypeError:
        return False
    return False


# -- merging -----------------------------------------------------------------------------------


@functools.total_ordering
class _Key:
    """A row's position in the global order: None after every value ascending, before descending."""

    __slots__ = ("parts",)

    def __init__(self, row: dict[str, Any], order: Sequence[Order]) -> None:
        self.parts = [(row.get(o.field), o.direction == "desc") for o in order]

    def __eq__(self, other: object) -> bool:
        assert isinstance(other, _Key)
        return all(a == b for (a, _), (b, _) in zip(self.parts, other.parts, strict=True))

    def __lt__(self, other: _Key) -> bool:
        for (a, desc), (b, _) in zip(self.parts, other.parts, strict=True):
            if a == b:
                continue
            if a is None or b is None:  # None is the greatest value
                less = b is None
            else:
                try:
                    less = a < b
                except TypeError:
                    raise OpError(
                        f"cannot order {type(a).__name__} {a!r} against {type(b).__name__} {b!r}: "
                        "an order field must hold one type"
                    ) from None
            return not less if desc else less
        return False

    __hash__ = None  # type: ignore[assignment]


def merge(streams: Sequence[Sequence[dict[str, Any]]], query: PartitionQuery) -> list[dict[str, Any]]:
    """One list from per-partition results, in the global order, with ``offset`` and ``limit`` applied."""
    if query.order_by:
        order = query.order_by

        def key(row: dict[str, Any]) -> _Key:
            return _Key(row, order)

        # each stream is sorted again in the core's terms (linear on sorted input) so that the
        # merge's precondition holds even if a backend breaks ties or orders None differently
        merged: Iterable[dict[str, Any]] = heapq.merge(*(sorted(s, key=key) for s in streams), key=key)
    else:
        merged = itertools.chain.from_iterable(streams)
    stop = None if query.limit is None else query.offset + query.limit
    return list(itertools.islice(merged, query.offset, stop))


@dataclass
class Scatter:
    """What one cross-partition query reads, planned without I/O: the sync hub fetches
    :attr:`reads` in threads, the async hub concurrently on its loop; both finish with :meth:`result`."""

    request: PartitionQuery
    #: the query each partition runs (limit + offset rows, the order fields added to ``fields``).
    pushed: PartitionQuery
    keep: list[Partition]
    drop: list[Partition]

    @property
    def reads(self) -> list[Partition]:
        """The partitions to fetch: none when nothing can match or ``limit`` is 0."""
        return [] if self.request.limit == 0 else self.keep

    def result(self, streams: Sequence[Sequence[dict[str, Any]]]) -> ScatterResult:
        """The merged page from each partition's rows (in the order of :attr:`reads`)."""
        wanted = self.request.fields
        rows = merge(streams, self.request)
        if wanted is not None and len(self.pushed.fields or ()) != len(wanted):
            rows = [{k: v for k, v in row.items() if k in wanted} for row in rows]
        return ScatterResult(rows=rows, scanned=[p.name for p in self.keep], pruned=[p.name for p in self.drop])


def plan(spec: PartitionSpec, inventory: Inventory, request: PartitionQuery, partitioner: Any = None) -> Scatter:
    """Check ``request``, choose the partitions of ``inventory`` that can match, push the query down.

    ``partitioner`` is only asked for a hash remainder (see :class:`~dbplex.partition.backend.HashRouting`).
    """
    request = normalize(spec, request)
    _check(request)
    attached = [e.partition for e in inventory.partitions if e.state == "attached"]
    keep, drop = candidates(spec, attached, request, partitioner, default_exclusive=inventory.default_exclusive)
    pushed = request.pushed_down()
    if request.fields is not None:
        extra = [o.field for o in request.order_by if o.field not in request.fields]
        pushed = msgspec.structs.replace(pushed, fields=[*request.fields, *extra])
    return Scatter(request=request, pushed=pushed, keep=keep, drop=drop)


def query(
    partitioner: Partitioner, spec: PartitionSpec, inventory: Inventory, request: PartitionQuery
) -> ScatterResult:
    """Run ``request`` over every partition of ``spec`` that can match, merged in global order."""
    planned = plan(spec, inventory, request, partitioner)
    reads = planned.reads
    if len(reads) <= 1:
        streams = [partitioner.fetch(spec, p, planned.pushed) for p in reads]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(reads)), thread_name_prefix="dbplex-scatter") as pool:
            streams = list(pool.map(lambda p: partitioner.fetch(spec, p, planned.pushed), reads))
    return planned.result(streams)


def _check(request: PartitionQuery) -> None:
    if request.limit is not None and request.limit < 0:
        raise OpError(f"limit must not be negative, got {request.limit}")
    if request.offset < 0:
        raise OpError(f"offset must not be negative, got {request.offset}")
    for condition in request.where:
        if condition.op == "in" and not isinstance(condition.value, (list, tuple, set, frozenset)):
            raise OpError(f"{condition.field} in ...: give a list of values, got {condition.value!r}")
