"""MongoDB's :class:`~dbplex.check.backend.Checker`.

MongoDB's aggregation has no hash of a string (``$toHashedIndexKey``, 7.0+, hashes a value's BSON,
not the canonical text the other backends hash), so a bisection level's range is streamed once in key order
with only the key and compared fields projected, and hashed here (:mod:`dbplex.check.canonical`).
The server counts, finds the newest timestamp, the rows with a missing field and the duplicates of
one field (``$group``); other rules are streamed and evaluated by core.

Only forms that mongod and the sandbox's nx-27017 answer alike are used. nx-27017 matches
``{f: null}`` only where ``f`` is absent, does not exclude nulls with ``$ne: null``, has no ``$not``,
and groups a compound ``_id`` (``{"a": "$a", "b": "$b"}``) as one literal value; so missing values
are found with ``{f: {"$eq": null}}``, numbers with ``{f: {"$gte": -2**63}}`` (type bracketing), and
duplicates of several fields are streamed.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import Any

from dbplex.backends import Source
from dbplex.check import canonical
from dbplex.check.backend import Outcome, Row, Segment
from dbplex.check.rules import Duplicate, Freshness, Missing, Rule
from dbplex.pool import Pool

ID = "_id"
#: matches every number and nothing else (comparisons only match values of their own type bracket).
NUMBERS = {"$gte": -(2**63)}


def _get(document: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``document`` (None when absent)."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _candidates(texts: Sequence[str]) -> list[Any]:
    """Stored values whose canonical text may be one of ``texts``: the text, and the integer it spells."""
    found: list[Any] = list(texts)
    for text in texts:
        with contextlib.suppress(ValueError):
            found.append(int(text))
    return found


class MongoChecker:
    """Reads through the source's pool; ``reads`` counts the documents the server read for it."""

    ordered = True

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool
        self.reads = 0

    def batches(
        self, table: str, key: str | None, fields: Sequence[str], batch: int, lo: Any = None, hi: Any = None
    ) -> Iterator[list[Row]]:
        path = key or ID
        where: dict[str, Any] = {}
        if lo is not None:
            where["$gte"] = lo
        if hi is not None:
            where["$lt"] = hi
        query = {path: where} if where else {}
        projection = dict.fromkeys([path, *fields], 1)
        with self.pool.connection() as db:
            cursor = db[table].find(query, projection).sort(path, 1).batch_size(batch)
            chunk: list[Row] = []
            for document in cursor:
                chunk.append((_get(document, path), tuple(_get(document, f) for f in fields)))
                if len(chunk) == batch:
                    self.reads += len(chunk)
                    yield chunk
                    chunk = []
            if chunk:
                self.reads += len(chunk)
                yield chunk

    def rows(self, table: str, key: str | None, fields: Sequence[str], keys: Sequence[str]) -> list[Row]:
        path = key or ID
        wanted = set(keys)
        with self.pool.connection() as db:
            found = [
                (_get(d, path), tuple(_get(d, f) for f in fields))
                for d in db[table].find({path: {"$in": _candidates(keys)}}, dict.fromkeys([path, *fields], 1))
            ]
        self.reads += len(found)
        return [row for row in found if canonical.text(row[0]) in wanted]

    def existing(self, table: str, field: str | None, values: Sequence[str]) -> set[str]:
        path = field or ID
        with self.pool.connection() as db:
            found = {
                canonical.text(_get(d, path)) for d in db[table].find({path: {"$in": _candidates(values)}}, {path: 1})
            }
        self.reads += len(values)
        return found & set(values)

    def count(self, table: str) -> int:
        with self.pool.connection() as db:
            rows = int(db[table].count_documents({}))
        self.reads += rows
        return rows

    def bounds(self, table: str, key: str | None) -> tuple[Any, Any] | None:
        """The lowest and highest number when the highest key is a number; else the lowest
        number or string and the highest key (core then decides: a mixed range is not bisected)."""
        path = key or ID
        with self.pool.connection() as db:
            collection = db[table]
            top = next(iter(collection.find({}, {path: 1}).sort(path, -1).limit(1)), None)
            ends = [
                next(iter(collection.find({path: NUMBERS}, {path: 1}).sort(path, d).limit(1)), None) for d in (1, -1)
            ]
            if top is not None and ends[0] is None:
                ends[0] = next(
                    iter(collection.find({path: {"$type": "string"}}, {path: 1}).sort(path, 1).limit(1)), None
                )
                self.reads += 1
        self.reads += 3
        highest = None if top is None else _get(top, path)
        if highest is not None and (isinstance(highest, bool) or not isinstance(highest, int)):
            return None if ends[0] is None else (_get(ends[0], path), highest)
        if ends[0] is None or ends[1] is None:
            return None
        return _get(ends[0], path), _get(ends[1], path)

    def segments(self, table: str, key: str | None, fields: Sequence[str], edges: Sequence[Any]) -> list[Segment]:
        """One streamed pass over the whole range, each document hashed into its own segment."""
        counts, sums = [0] * (len(edges) - 1), [0] * (len(edges) - 1)
        inner = edges[1:-1]
        for batch in self.batches(table, key, fields, 1000, edges[0], edges[-1]):
            for k, values in batch:
                index = bisect_right(inner, k)
                counts[index] += 1
                sums[index] += canonical.digest(k, values)
        return [Segment(count, total) for count, total in zip(counts, sums, strict=True)]

    def evaluate(self, table: str, key: str | None, rule: Rule, sample: int) -> Outcome | None:
        path = key or ID
        with self.pool.connection() as db:
            collection = db[table]
            if isinstance(rule, Freshness):  # nulls sort first, so the first document descending is the newest
                newest = next(iter(collection.find({}, {rule.field: 1}).sort(rule.field, -1).limit(1)), None)
                self.reads += 1
                return Outcome(failed=0, value=None if newest is None else _get(newest, rule.field))
            if isinstance(rule, Missing):
                query: dict[str, Any] = {"$or": [{f: {"$eq": None}} for f in rule.fields]}
            elif isinstance(rule, Duplicate) and len(rule.fields) == 1:
                field = rule.fields[0]
                groups = collection.aggregate(
                    [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}, {"$match": {"n": {"$gt": 1}}}]
                )
                shared = [g["_id"] for g in groups if g["_id"] is not None]
                query = {field: {"$in": shared}}
            else:
                return None
            failed = int(collection.count_documents(query))
            found = collection.find(query, {path: 1}).sort(path, 1).limit(sample) if failed and sample else []
            keys = [_get(d, path) for d in found]
            self.reads += int(collection.count_documents({}))
        return Outcome(failed=failed, keys=keys)
