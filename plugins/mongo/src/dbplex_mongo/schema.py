"""Idempotent building blocks for MongoDB migrations: validators, indexes, batched reshapes.

Each helper reads through ``ctx.reader`` and writes only through ``ctx.execute``, so that a
dry run shows the exact commands (and the counts the helper found) without changing anything,
and running a migration again after an interruption does only what is left. The batched ones
check the run's lock between batches and stop if it was lost.

    from dbplex_mongo.schema import Index, reconcile_indexes, rename_field, set_validator

    def up(ctx):
        set_validator(ctx, "teams", {"bsonType": "object", "required": ["name"]})
        reconcile_indexes(ctx, "teams", [Index("name", [("name", 1)], unique=True)])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dbplex.migrate import MigrationContext, MigrationError

Doc = dict[str, Any]
Level = Literal["off", "moderate", "strict"]
Action = Literal["error", "warn"]


def set_validator(
    ctx: MigrationContext,
    collection: str,
    schema: Mapping[str, Any],
    *,
    level: Level = "strict",
    action: Action = "error",
    allow_nonconforming: bool = False,
) -> None:
    """Give ``collection`` the ``$jsonSchema`` validator ``schema``, creating the collection if needed.

    An identical validator is left alone. Before changing one, the documents that do not match
    the new schema are counted and reported; with ``level="strict"`` and ``action="error"`` the
    change is refused while there are any, unless ``allow_nonconforming`` (updates to those
    documents would then fail).
    """
    validator = {"$jsonSchema": dict(schema)}
    db = ctx.reader
    found = list(db.list_collections(filter={"name": collection}))
    if not found:
        ctx.execute(
            {"create": collection, "validator": validator, "validationLevel": level, "validationAction": action}
        )
        return
    options = found[0].get("options", {})
    current = (
        options.get("validator"),
        options.get("validationLevel", "strict"),
        options.get("validationAction", "error"),
    )
    if current == (validator, level, action):
        ctx.note(f"{collection}: validator unchanged")
        return
    nonconforming = db[collection].count_documents({"$nor": [validator]})
    ctx.note(f"{collection}: {nonconforming} existing documents do not match the new schema")
    if nonconforming and level == "strict" and action == "error" and not allow_nonconforming:
        raise MigrationError(
            f"collection {collection!r}: {nonconforming} documents do not match the new schema; fix them first "
            "(reshape), or use level='moderate', or pass allow_nonconforming=True (updates to them will then fail)"
        )
    ctx.execute({"collMod": collection, "validator": validator, "validationLevel": level, "validationAction": action})


@dataclass(frozen=True)
class Index:
    """An index as a migration declares it; ``name`` identifies it."""

    name: str
    keys: Sequence[tuple[str, int | str]]
    unique: bool = False
    sparse: bool = False
    expire_after_seconds: int | None = None
    partial: Mapping[str, Any] | None = None

    def spec(self) -> Doc:
        """The ``createIndexes`` entry."""
        spec: Doc = {"key": dict(self.keys), "name": self.name}
        if self.unique:
            spec["unique"] = True
        if self.sparse:
            spec["sparse"] = True
        if self.expire_after_seconds is not None:
            spec["expireAfterSeconds"] = self.expire_after_seconds
        if self.partial is not None:
            spec["partialFilterExpression"] = dict(self.partial)
        return spec


def _keys(keys: Any) -> list[tuple[str, Any]]:
    """Key patterns compared as the server keeps them (1 and 1.0 are one direction)."""
    return [(field, float(kind) if isinstance(kind, (int, float)) else kind) for field, kind in dict(keys).items()]


def _options(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    ttl = spec.get("expireAfterSeconds")
    return (
        bool(spec.get("unique", False)),
        bool(spec.get("sparse", False)),
        None if ttl is None else int(ttl),
        spec.get("partialFilterExpression"),
    )


def _same(existing: Mapping[str, Any], wanted: Index) -> bool:
    spec = wanted.spec()
    return _keys(existing["key"]) == _keys(spec["key"]) and _options(existing) == _options(spec)


def reconcile_indexes(
    ctx: MigrationContext, collection: str, indexes: Sequence[Index], *, drop_unlisted: bool = False
) -> None:
    """Make ``collection``'s indexes match ``indexes``, by name.

    A missing index is built; one whose keys or options changed is dropped and built again; an
    index with the same keys under another name (which the server would refuse beside the new
    one) is dropped. With ``drop_unlisted``, every other index goes too (never ``_id_``).
    """
    existing = {spec["name"]: spec for spec in ctx.reader[collection].list_indexes()}
    wanted = {index.name: index for index in indexes}
    drops: list[str] = []
    builds: list[Index] = []
    for index in indexes:
        current = existing.get(index.name)
        if current is not None and _same(current, index):
            continue
        if current is None:
            twins = [
                n
                for n, s in existing.items()
                if n != "_id_" and n not in wanted and _keys(s["key"]) == _keys(index.spec()["key"])
            ]
            drops += twins
        else:
            drops.append(index.name)
        builds.append(index)
    if drop_unlisted:
        drops += [name for name in existing if name != "_id_" and name not in wanted and name not in drops]
    for name in drops:
        ctx.execute({"dropIndexes": collection, "index": name})
    if builds:
        ctx.execute({"createIndexes": collection, "indexes": [index.spec() for index in builds]})
    if not drops and not builds:
        ctx.note(f"{collection}: indexes already match")


def rename_field(ctx: MigrationContext, collection: str, old: str, new: str, *, batch_size: int = 1000) -> None:
    """Move field ``old`` to ``new`` (dotted paths allowed) in batches of ``batch_size`` documents."""
    reader = ctx.reader[collection]
    selector = {old: {"$exists": True}}
    ctx.note(f"{collection}: {reader.count_documents(selector)} documents have {old!r}")
    moved = 0
    while True:
        ctx.check()
        ids = [doc["_id"] for doc in reader.find(selector, {"_id": 1}).sort("_id", 1).limit(batch_size)]
        if not ids:
            break
        reply = ctx.execute(
            {
                "update": collection,
                "updates": [{"q": {"_id": {"$in": ids}, **selector}, "u": {"$rename": {old: new}}, "multi": True}],
            }
        )
        if ctx.dry_run:
            ctx.note(f"then the same for the next batches of {batch_size} until no document has {old!r}")
            return
        moved += int(reply.get("nModified", 0))
    ctx.note(f"{collection}: moved {old!r} to {new!r} in {moved} documents")


def reshape(
    ctx: MigrationContext,
    collection: str,
    selector: Mapping[str, Any],
    transform: Callable[[Doc], Doc | None],
    *,
    batch_size: int = 500,
) -> None:
    """Replace each document matching ``selector`` by ``transform(document)``, in ``_id`` order.

    ``transform`` returns the new document (its ``_id`` is kept) or None to leave it as it is.
    Batches are replacement updates of ``batch_size`` documents; a run that was interrupted
    continues from the start and skips documents that no longer need a change.
    """
    reader = ctx.reader[collection]
    total = reader.count_documents(dict(selector))
    ctx.note(f"{collection}: {total} documents match {dict(selector)!r}")
    last: Any = None
    changed = 0
    while True:
        ctx.check()
        query = dict(selector) if last is None else {"$and": [dict(selector), {"_id": {"$gt": last}}]}
        docs = list(reader.find(query).sort("_id", 1).limit(batch_size))
        if not docs:
            break
        last = docs[-1]["_id"]
        updates = []
        for doc in docs:
            result = transform(dict(doc))
            if result is not None and {**result, "_id": doc["_id"]} != doc:
                updates.append({"q": {"_id": doc["_id"]}, "u": {**result, "_id": doc["_id"]}})
        if updates:
            ctx.execute({"update": collection, "updates": updates, "ordered": False})
            changed += len(updates)
        if ctx.dry_run:
            ctx.note(f"then the same for the next batches of {batch_size}")
            return
    ctx.note(f"{collection}: reshaped {changed} documents")
