"""``dbplex analyze`` for MongoDB: what the server's own statistics say about one database.

Every check reads what MongoDB already keeps: ``$indexStats`` (unused indexes), the profiler's
``system.profile`` (collection scans, and the index their filter asks for), ``$collStats``
(index sizes against data sizes) and the collections' ``$jsonSchema`` validators (documents
lacking a required field). A check the server cannot answer becomes one ``INFO`` finding saying
what is missing; the analyzer never changes the server (it does not switch the profiler on).
Reads go through the admin pool, which has no operation timeout.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import OperationFailure

from dbplex.analyze.model import Finding, MigrationFile, ProposedIndex, Severity
from dbplex.backends import Source
from dbplex.config import AnalyzeSourceConfig
from dbplex.pool import Pool
from dbplex_mongo.errors import DRIVER_ERRORS, translate

Doc = dict[str, Any]

#: operators that compare a field with one value: the field is an equality key of an index.
_EQUALITY = frozenset({"$eq", "$in"})
_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]+")


def _filter_of(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The query filter of a profiler entry (find, update, delete, count, distinct, aggregate's
    first ``$match``), or None when the entry's command carries none."""
    command = entry.get("command") or {}
    for key in ("filter", "q", "query"):
        if isinstance(command.get(key), Mapping):
            found: Mapping[str, Any] = command[key]
            return found
    pipeline = command.get("pipeline")
    if isinstance(pipeline, list) and pipeline and isinstance(pipeline[0], Mapping) and "$match" in pipeline[0]:
        match: Mapping[str, Any] = pipeline[0]["$match"]
        return match
    return None


def index_fields(query: Mapping[str, Any]) -> tuple[str, ...]:
    """The key an index for ``query`` should have: equality fields first, then ranges (the
    equality-sort-range rule without the sort), each in the filter's own order.

    Only top-level field conditions count (and those of a top-level ``$and``); a filter that is
    an ``$or``, ``$expr`` or text search gets no proposal, since no single index serves it.
    """
    equality: list[str] = []
    ranges: list[str] = []
    for field, condition in _conditions(query):
        operators = set(condition) if isinstance(condition, Mapping) else set()
        if operators and all(op.startswith("$") for op in operators) and not operators <= _EQUALITY:
            if field not in ranges:
                ranges.append(field)
        elif field not in equality:
            equality.append(field)
    return tuple(equality) + tuple(field for field in ranges if field not in equality)


def _conditions(query: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for field, condition in query.items():
        if field == "$and" and isinstance(condition, list):
            for part in condition:
                if isinstance(part, Mapping):
                    yield from _conditions(part)
        elif not field.startswith("$"):
            yield field, condition


def index_name(collection: str, fields: Iterable[str]) -> str:
    """A stable name for a proposed index: ``ix_<collection>_<field>_<field>``."""
    return _NAME_CHAR.sub("_", "_".join(("ix", collection, *fields))).strip("_")


def unused_indexes(collection: str, stats: Iterable[Mapping[str, Any]], source: str) -> list[Finding]:
    """``$indexStats`` rows as findings: every index no operation used since the server counted.

    ``_id_`` and unique indexes are kept whatever their use (they enforce something), and so are
    TTL indexes (their deletes are not counted as accesses).
    """
    found = []
    for row in stats:
        spec = row.get("spec") or {}
        if row["name"] == "_id_" or spec.get("unique") or "expireAfterSeconds" in spec:
            continue
        accesses = row.get("accesses") or {}
        if int(accesses.get("ops", 0)) != 0:
            continue
        since = accesses.get("since")
        found.append(
            Finding(
                source=source,
                code="mongo.unused_index",
                severity=Severity.WARNING,
                subject=f"{collection}.{row['name']}",
                summary=f"index {row['name']!r} on {collection!r} was not used by any operation since {_when(since)}",
                action=f"drop it ({{dropIndexes: {collection!r}, index: {row['name']!r}}}) if no rare job needs it; "
                "on a replica set, check every member first",
                evidence={"ops": 0, "since": _when(since), "key": dict(row.get("key") or {}), "host": row.get("host")},
            )
        )
    return found


def collection_scans(
    entries: Iterable[Mapping[str, Any]],
    sizes: Mapping[str, int],
    indexes: Mapping[str, list[tuple[str, ...]]],
    source: str,
) -> list[Finding]:
    """Profiler entries with plan ``COLLSCAN`` as one finding per collection and filter shape.

    ``sizes`` are the collections' document counts (those missing or below ``min_rows`` were
    left out by the caller); a shape whose proposed key already leads an index in ``indexes``
    is skipped (the profiler still holds scans from before the index was built).
    """
    shapes: dict[tuple[str, tuple[str, ...]], list[Mapping[str, Any]]] = {}
    for entry in entries:
        collection = str(entry.get("ns", "")).partition(".")[2]
        query = _filter_of(entry)
        if collection not in sizes or query is None:
            continue
        shapes.setdefault((collection, index_fields(query)), []).append(entry)
    found = []
    for (collection, fields), scans in sorted(shapes.items()):
        if fields and any(key[: len(fields)] == fields for key in indexes.get(collection, [])):
            continue
        index = ProposedIndex(table=collection, columns=fields, name=index_name(collection, fields)) if fields else None
        shape = "{" + ", ".join(fields) + "}" if fields else "no indexable field"
        found.append(
            Finding(
                source=source,
                code="mongo.collection_scan",
                severity=Severity.WARNING,
                subject=collection,
                summary=f"{len(scans)} profiled operations scanned all of {collection!r} "
                f"({sizes[collection]} documents) filtering on {shape}",
                action=f"create the index {index.name} on ({', '.join(fields)})"
                if index
                else "rewrite the query so that an index can serve it (an $or needs an index per branch)",
                evidence={
                    "scans": len(scans),
                    "documents": sizes[collection],
                    "docs_examined": sum(int(s.get("docsExamined", 0)) for s in scans),
                    "max_millis": max(int(s.get("millis", 0)) for s in scans),
                    "filter_fields": list(fields),
                },
                index=index,
            )
        )
    return found


def missing_required(collection: str, counts: Mapping[str, int], options: Mapping[str, Any], source: str) -> Finding:
    """The finding for documents of ``collection`` lacking fields its validator requires."""
    lacking = {field: count for field, count in counts.items() if count}
    names = ", ".join(f"{field} ({count})" for field, count in sorted(lacking.items()))
    return Finding(
        source=source,
        code="mongo.missing_required_field",
        severity=Severity.WARNING,
        subject=collection,
        summary=f"documents of {collection!r} lack field(s) its validator requires: {names}",
        action="backfill the fields (a migration with updateMany) or remove them from the validator's required list",
        evidence={
            "missing": lacking,
            "validation_level": options.get("validationLevel", "strict"),
            "validation_action": options.get("validationAction", "error"),
        },
    )


def _when(since: Any) -> str:
    return since.isoformat() if isinstance(since, dt.datetime) else "the server started"


def _unavailable(source: str, check: str, why: str, enable: str) -> Finding:
    return Finding(
        source=source,
        code="mongo.not_available",
        severity=Severity.INFO,
        subject=check,
        summary=f"{check} not checked: {why}",
        action=enable,
    )


class MongoAnalyzer:
    """The analysis backend of one MongoDB source: the database its URL names."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._admin = admin

    def findings(self, settings: AnalyzeSourceConfig) -> list[Finding]:
        try:
            with self._admin.connection() as db:
                return self._findings(db, settings)
        except DRIVER_ERRORS as exc:
            raise translate(self.source, exc, "analyzing") from exc

    def _findings(self, db: Database[Doc], settings: AnalyzeSourceConfig) -> list[Finding]:
        name = self.source.name
        collections = {
            c["name"]: c.get("options") or {}
            for c in db.list_collections()
            if c.get("type", "collection") == "collection" and not c["name"].startswith("system.")
        }
        found: list[Finding] = []
        sizes: dict[str, int] = {}
        keys: dict[str, list[tuple[str, ...]]] = {}
        index_stats_ok = True
        for collection, options in sorted(collections.items()):
            stats = self._storage(db, collection)
            sizes[collection] = int(stats.get("count", 0))
            keys[collection] = [tuple(ix["key"]) for ix in db[collection].list_indexes()]
            if sizes[collection] >= settings.min_rows and stats.get("totalIndexSize", 0) > stats.get("size", 0) > 0:
                found.append(self._index_size(collection, stats))
            if index_stats_ok:
                try:
                    rows = list(db[collection].aggregate([{"$indexStats": {}}]))
                except OperationFailure as exc:
                    index_stats_ok = False
                    found.append(
                        _unavailable(
                            name,
                            "unused indexes",
                            f"the server does not answer $indexStats ({_message(exc)})",
                            "run dbplex analyze against a MongoDB server (3.2 or later) that supports $indexStats",
                        )
                    )
                else:
                    found += unused_indexes(collection, rows, name)
            required = _required(options)
            if required:
                counts = {field: db[collection].count_documents({field: {"$exists": False}}) for field in required}
                if any(counts.values()):
                    found.append(missing_required(collection, counts, options, name))
        found += self._scans(db, {c: n for c, n in sizes.items() if n >= settings.min_rows}, keys, settings)
        return found

    def _storage(self, db: Database[Doc], collection: str) -> Doc:
        """``$collStats`` storage figures summed over shards (one row per shard on a cluster)."""
        total: Doc = {"count": 0, "size": 0, "totalIndexSize": 0, "indexSizes": {}}
        for row in db[collection].aggregate([{"$collStats": {"storageStats": {}}}]):
            storage = row.get("storageStats") or {}
            for key in ("count", "size", "totalIndexSize"):
                total[key] += int(storage.get(key, 0))
            for index, size in (storage.get("indexSizes") or {}).items():
                total["indexSizes"][index] = total["indexSizes"].get(index, 0) + int(size)
        return total

    def _index_size(self, collection: str, stats: Doc) -> Finding:
        return Finding(
            source=self.source.name,
            code="mongo.index_size",
            severity=Severity.INFO,
            subject=collection,
            summary=f"the indexes of {collection!r} take more space ({stats['totalIndexSize']} bytes) "
            f"than its documents ({stats['size']} bytes)",
            action="look for unused or overlapping indexes among the largest ones",
            evidence={
                "documents": stats["count"],
                "data_bytes": stats["size"],
                "index_bytes": stats["totalIndexSize"],
                "index_sizes": dict(stats["indexSizes"]),
            },
        )

    def _scans(
        self,
        db: Database[Doc],
        sizes: dict[str, int],
        keys: dict[str, list[tuple[str, ...]]],
        settings: AnalyzeSourceConfig,
    ) -> list[Finding]:
        name = self.source.name
        try:
            level = db.command("profile", -1)
        except OperationFailure as exc:
            level = {"error": _message(exc)}
        if "was" not in level:
            why = level.get("error", "its profile command reports no level")
            return [
                _unavailable(
                    name,
                    "collection scans",
                    f"the server has no profiler ({why})",
                    "run dbplex analyze against a mongod with the database profiler",
                )
            ]
        if level["was"] == 0:
            return [
                _unavailable(
                    name,
                    "collection scans",
                    f"the profiler of database {db.name!r} is off",
                    "switch it on for slow operations: db.setProfilingLevel(1, {slowms: 100})",
                )
            ]
        entries = db["system.profile"].find({"planSummary": "COLLSCAN"}).sort("ts", -1).limit(settings.sample)
        return collection_scans(entries, sizes, keys, name)

    def index_migration(self, index: ProposedIndex) -> MigrationFile:
        """``index`` as a Python migration: ``createIndexes`` up, ``dropIndexes`` down."""
        key = "{" + ", ".join(f"{field!r}: 1" for field in index.columns) + "}"
        unique = ", 'unique': True" if index.unique else ""
        text = (
            f'"""Index {index.name} on {index.table} ({", ".join(index.columns)}), proposed by dbplex analyze."""\n'
            "\n\n"
            "def up(ctx):\n"
            f"    ctx.execute({{'createIndexes': {index.table!r}, "
            f"'indexes': [{{'key': {key}, 'name': {index.name!r}{unique}}}]}})\n"
            "\n\n"
            "def down(ctx):\n"
            f"    ctx.execute({{'dropIndexes': {index.table!r}, 'index': {index.name!r}}})\n"
        )
        return MigrationFile(suffix="py", description=_NAME_CHAR.sub("_", f"index_{index.name}"), text=text)


def _required(options: Mapping[str, Any]) -> list[str]:
    """The top-level fields a collection's ``$jsonSchema`` validator requires."""
    schema = (options.get("validator") or {}).get("$jsonSchema") or {}
    required = schema.get("required") or []
    return [str(field) for field in required]


def _message(exc: OperationFailure) -> str:
    details = exc.details or {}
    return str(details.get("errmsg") or exc).partition(", full error:")[0]
