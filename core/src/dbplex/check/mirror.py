"""Mirror consistency: do two places hold the same records?

Two ordered sides are compared by **bisection** when both hold integer keys (``key_type =
"int"``) or both hold text keys (``key_type = "str"``): the key range is cut into segments,
each side's server returns every segment's count and checksum in one request
(``Checker.segments``), equal segments are done, and a differing one is cut again until it holds
at most :data:`LEAF` rows, when both sides' rows of it are read and diffed by key. Integer ranges
are cut evenly into :data:`FANOUT` by value; text keys, which cannot be cut by value, are cut at
every n-th key of the side holding more rows in the range (its keys streamed, at most
2 × :data:`FANOUT` of them kept), so each piece holds at most a FANOUT-th of that side's rows.
Text is ordered by code point on every side (PostgreSQL ``COLLATE "C"``, MongoDB's binary string
order, Python's ``str``). Reading a segment's checksum costs the server a read of its rows
(counted), so with few differences each side is read about once for the checksums and once more
for the small differing segments (text keys: once more for their cut points, keys only).
Otherwise (a Redis key family, keys of mixed types) the check **looks up**: it streams the
source, fetches the same keys from the target in batches and compares digests, then streams the
target's keys and asks the source which exist.

A copy whose records are **nested** in lists (``cache:schedules:*``, each key a schedule holding
its games) cannot be looked up by record key, so its records are streamed once into a map of
key to digest — the copy's keys alone, which for a cache is bounded by the cache — and the
source is streamed against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from dbplex.check import canonical
from dbplex.check.backend import Checker
from dbplex.check.report import CheckResult
from dbplex.check.rules import Address, Mirror
from dbplex.errors import ConfigError

#: segments a key range is cut into at each level of the bisection.
FANOUT = 16
#: a differing segment of at most this many rows (on the larger side) is read and diffed.
LEAF = 1000
#: rows per batch when streaming.
BATCH = 1000


class Side:
    """One side of a mirror: its checker, place, key field and the fields compared, in order."""

    def __init__(self, checker: Checker, place: Address, key: str | None, fields: list[str]) -> None:
        self.checker = checker
        self.place = place
        self.key = key
        self.fields = fields

    @property
    def table(self) -> str:
        return self.place.table

    def digests(self, lo: Any = None, hi: Any = None) -> Iterator[tuple[str, int]]:
        for batch in self.checker.batches(self.table, self.key, self.fields, BATCH, lo, hi):
            for key, values in batch:
                yield canonical.text(key), canonical.digest(key, values)


def compare(rule: Mirror, source: Side, target: Side, result: CheckResult, sample: int) -> None:
    """Fill ``result``'s ``missing``, ``extra`` and ``different`` (and ``method``)."""
    if rule.nested is not None:
        result.method = "nested"
        _nested(source, target, rule.nested, result, sample)
    elif (ends := _ends(rule, source, target)) is not None:
        result.method = "bisection"
        _bisect(source, target, result, sample, ends)
    else:
        result.method = "lookup"
        _lookup(source, target, result, sample)
    for found in (result.missing, result.extra, result.different):
        found.sample.sort(key=_order if rule.key_type == "int" else str)


def _order(key: str) -> tuple[int, int | str]:
    try:
        return (0, int(key))
    except ValueError:
        return (1, key)


#: a key range: its first key, and the key past its end (None: no end).
Range = tuple[Any, Any]


def _ends(rule: Mirror, source: Side, target: Side) -> Range | None:
    """The range covering both sides' keys when they can be bisected, else None (look up).

    Integer keys are refused unless both sides hold integers only; text keys are bisected when
    both sides hold text only, and looked up otherwise (integers compared by their text)."""
    if not (source.checker.ordered and target.checker.ordered):
        return None
    sides = [(side, side.checker.bounds(side.table, side.key)) for side in (source, target)]
    found = [key for _, bounds in sides if bounds for key in bounds]
    if rule.key_type == "int":
        for side, bounds in sides:
            for key in bounds or ():
                if isinstance(key, bool) or not isinstance(key, int):
                    raise ConfigError(
                        f"source {side.place.source!r}: {side.table}.{side.key or 'key'} holds "
                        f'{canonical.text(key)!r}, not an integer: a mirror over it needs key_type = "str"'
                    )
        return (min(found), max(found) + 1) if found else (0, 1)
    if all(isinstance(key, str) for key in found):
        return (min(found), None) if found else ("", None)
    return None


def _bisect(source: Side, target: Side, result: CheckResult, sample: int, ends: Range) -> None:
    rows = {str(source.place): 0, str(target.place): 0}
    textual = isinstance(ends[0], str)
    # (start, end, each side's rows in it when a level counted them)
    pending: list[tuple[Any, Any, tuple[int, int] | None]] = [(*ends, None)]
    first = True
    while pending:
        start, end, counts = pending.pop()
        if textual:
            edges = _cuts(source if counts is None or counts[0] >= counts[1] else target, start, end)
        else:
            edges = _edges(start, end)
        ours = source.checker.segments(source.table, source.key, source.fields, edges)
        theirs = target.checker.segments(target.table, target.key, target.fields, edges)
        if first:  # the first level covers every key once: it counts both sides
            rows[str(source.place)] = sum(s.count for s in ours)
            rows[str(target.place)] = sum(s.count for s in theirs)
            first = False
        for (lo, hi), mine, other in zip(pairwise(edges), ours, theirs, strict=True):
            if mine == other:
                continue
            if max(mine.count, other.count) <= LEAF or (not textual and hi - lo <= FANOUT):
                _diff(dict(source.digests(lo, hi)), dict(target.digests(lo, hi)), result, sample)
            else:
                pending.append((lo, hi, (mine.count, other.count)))
        pending.sort(key=lambda p: p[0], reverse=True)  # key order, so the samples are the first keys
    result.rows = rows


def _edges(lo: int, hi: int) -> list[int]:
    """``[lo, hi)`` cut into up to FANOUT contiguous ranges: their FANOUT + 1 edges at most."""
    step = max(1, -(-(hi - lo) // FANOUT))
    return [*range(lo, hi, step), hi]


def _cuts(side: Side, lo: str, hi: str | None) -> list[Any]:
    """``[lo, hi)`` cut at every n-th key ``side`` holds in it, n doubling whenever more than
    2 × FANOUT cut points are kept, so memory stays bounded whatever the range holds."""
    kept: list[str] = []
    step, seen = 1, 0
    for batch in side.checker.batches(side.table, side.key, [], BATCH, lo, hi):
        for key, _ in batch:
            seen += 1
            if seen % step == 0 and key != lo:
                kept.append(key)
                if len(kept) > 2 * FANOUT:
                    kept, step = kept[1::2], step * 2
    return [lo, *kept, hi]


def _diff(ours: dict[str, int], theirs: dict[str, int], result: CheckResult, sample: int, extra: bool = True) -> None:
    """Keys of ``ours`` missing from or different in ``theirs``; with ``extra``, keys only in ``theirs``."""
    for key, digest in ours.items():
        other = theirs.get(key)
        if other is None:
            result.missing.add(key, sample)
        elif other != digest:
            result.different.add(key, sample)
    if extra:
        for key in theirs.keys() - ours.keys():
            result.extra.add(key, sample)


def _lookup(source: Side, target: Side, result: CheckResult, sample: int) -> None:
    rows = 0
    for batch in source.checker.batches(source.table, source.key, source.fields, BATCH):
        rows += len(batch)
        keys = [canonical.text(key) for key, _ in batch]
        found = {
            canonical.text(key): canonical.digest(key, values)
            for key, values in target.checker.rows(target.table, target.key, target.fields, keys)
        }
        ours = {k: canonical.digest(key, values) for k, (key, values) in zip(keys, batch, strict=True)}
        _diff(ours, found, result, sample, extra=False)  # the target's own keys are walked below
    target_rows = 0
    for batch in target.checker.batches(target.table, target.key, [], BATCH):
        target_rows += len(batch)
        keys = [canonical.text(key) for key, _ in batch]
        present = source.checker.existing(source.table, source.key, keys)
        for key in keys:
            if key not in present:
                result.extra.add(key, sample)
    result.rows = {str(source.place): rows, str(target.place): target_rows}


def _nested(source: Side, target: Side, field: str, result: CheckResult, sample: int) -> None:
    """Compare ``source`` with records nested in a list under ``field`` of each of ``target``'s rows."""
    assert target.key is not None, "a nested mirror names its records' key field (checked by the rule)"
    copies: dict[str, int] = {}
    target_rows = 0
    for batch in target.checker.batches(target.table, None, [field], BATCH):
        for _, (records,) in batch:
            for record in _records(records):
                key = record.get(target.key)
                if key is not None:
                    target_rows += 1
                    copies[canonical.text(key)] = canonical.digest(key, [record.get(f) for f in target.fields])
    rows = 0
    for key, digest in source.digests():
        rows += 1
        copy = copies.pop(key, None)
        if copy is None:
            result.missing.add(key, sample)
        elif copy != digest:
            result.different.add(key, sample)
    for key in copies:
        result.extra.add(key, sample)
    result.rows = {str(source.place): rows, str(target.place): target_rows}


def _records(value: Any) -> list[dict[str, Any]]:
    """The records of a nested field: a list of objects, or its JSON text (a Redis hash's field)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
