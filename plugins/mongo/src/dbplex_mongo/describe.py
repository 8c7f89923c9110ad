"""MongoDB's :class:`~dbplex.schema.model.Describer`: a collection's top-level fields from its
``$jsonSchema`` validator and sampled documents, and migrations that extend the validator.

A field the validator declares takes the validator's ``bsonType`` and ``required``; a field only
seen in documents takes the types of its sampled values and no requiredness. Documents are
sampled with ``$sample``; a server that refuses it is read with ``find().limit(N)`` (the first
N in natural order, said in a note). Nested fields are not described: a sub-document is an
``object``. The migration is a Python file that sets the extended validator with
:func:`dbplex_mongo.schema.set_validator` at level ``moderate`` (existing documents that do not
conform can still be updated; new ones must conform) and whose down part restores the
validator, level and action the collection had when it was written.
"""

from __future__ import annotations

import copy
import pprint
from collections.abc import Sequence
from typing import Any

from bson import Decimal128, ObjectId
from pymongo.errors import OperationFailure

from dbplex.analyze.model import MigrationFile
from dbplex.backends import Source
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex.schema import infer
from dbplex.schema.model import FieldShape, PortableType, TableShape, migration_name

_FROM_BSON: dict[str, PortableType] = {
    "string": "string",
    "objectId": "string",
    "int": "integer",
    "long": "integer",
    "double": "number",
    "decimal": "number",
    "bool": "boolean",
    "date": "timestamp",
    "timestamp": "timestamp",
    "binData": "binary",
    "object": "object",
    "array": "array",
    "null": "null",
}

#: the bsonType a migration gives each portable type (None: no type constraint).
_TO_BSON: dict[PortableType, list[str] | None] = {
    "string": ["string"],
    "integer": ["int", "long"],
    "number": ["double", "int", "long", "decimal"],
    "boolean": ["bool"],
    "timestamp": ["date"],
    "date": ["date"],
    "binary": ["binData"],
    "object": ["object"],
    "array": ["array"],
    "null": None,
    "unknown": None,
}


def _sampled(value: Any) -> PortableType:
    """The portable type of a decoded BSON value (an ObjectId is a string, a Decimal128 a number)."""
    if isinstance(value, ObjectId):
        return "string"
    if isinstance(value, Decimal128):
        return "number"
    return infer.of_value(value)


def _declared(spec: Any) -> PortableType:
    """The portable type of one ``properties`` entry: its ``bsonType``, else its ``enum``'s values."""
    if not isinstance(spec, dict):
        return "unknown"
    names = spec.get("bsonType")
    if names is not None:
        listed = names if isinstance(names, list) else [names]
        return infer.merge(_FROM_BSON.get(str(name), "unknown") for name in listed)
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return infer.merge(infer.of_value(value) for value in spec["enum"])
    return "unknown"


class MongoDescriber:
    """Reads through the source's pool (a pymongo ``Database``)."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self.pool = pool

    def _options(self, collection: str) -> dict[str, Any]:
        with self.pool.connection() as db:
            # filtered here too: nx-27017 ignores listCollections' filter
            found = [c for c in db.list_collections(filter={"name": collection}) if c.get("name") == collection]
        if not found:
            raise ConfigError(f"source {self.source.name!r}: no collection {collection!r}")
        options: dict[str, Any] = found[0].get("options") or {}
        return options

    def _sample(self, collection: str, size: int, notes: list[str]) -> list[dict[str, Any]]:
        with self.pool.connection() as db:
            try:
                return list(db[collection].aggregate([{"$sample": {"size": size}}]))
            except OperationFailure as exc:
                notes.append(f"{collection}: $sample refused ({exc.code}); read the first {size} documents instead")
                return list(db[collection].find({}).limit(size))

    def describe(self, table: str, sample: int) -> TableShape:
        notes: list[str] = []
        validator = self._options(table).get("validator") or {}
        schema = validator.get("$jsonSchema")
        if validator and schema is None:
            notes.append(f"{table}: its validator is not a $jsonSchema and is not read")
        properties: dict[str, Any] = (schema or {}).get("properties") or {}
        required = set((schema or {}).get("required") or [])
        documents = self._sample(table, sample, notes)
        seen: dict[str, list[PortableType]] = {}
        for document in documents:
            for name, value in document.items():
                seen.setdefault(name, []).append(_sampled(value))
        fields: list[FieldShape] = []
        for name, spec in properties.items():
            declared = _declared(spec)
            if declared == "unknown" and name in seen:
                declared = infer.merge(seen[name])
            bson = spec.get("bsonType") if isinstance(spec, dict) else None
            fields.append(
                FieldShape(name=name, type=declared, required=name in required, source_type=f"bsonType {bson}")
            )
        for name, types in seen.items():
            if name not in properties:
                kinds = ", ".join(sorted(set(types)))
                fields.append(FieldShape(name=name, type=infer.merge(types), source_type=f"sampled: {kinds}"))
        if schema is None:
            notes.append(f"{table}: no $jsonSchema validator; fields and types from {len(documents)} sampled documents")
        return TableShape(
            source=self.source.name, table=table, fields=fields, key="_id", sampled=len(documents), notes=notes
        )

    def migration(self, table: str, wanted: Sequence[FieldShape]) -> MigrationFile | None:
        options = self._options(table)
        before = (options.get("validator") or {}).get("$jsonSchema")
        after: dict[str, Any] = copy.deepcopy(before) if before is not None else {"bsonType": "object"}
        properties = after.setdefault("properties", {})
        required = list(after.get("required") or [])
        for field in wanted:
            spec = dict(properties.get(field.name) or {})
            bson = _TO_BSON[field.type]
            if bson is not None:
                spec["bsonType"] = bson if field.required else [*bson, "null"]
            properties[field.name] = spec
            if field.required and field.name not in required:
                required.append(field.name)
            elif field.required is False and field.name in required:
                required.remove(field.name)
        if required:
            after["required"] = required
        else:
            after.pop("required", None)
        if before is None:
            down = f'    ctx.execute({{"collMod": {table!r}, "validator": {{}}}})\n'
        else:
            level = options.get("validationLevel", "strict")
            action = options.get("validationAction", "error")
            down = (
                f"    set_validator(ctx, {table!r}, BEFORE, level={level!r}, action={action!r}, "
                "allow_nonconforming=True)\n"
            )
        text = (
            f'"""Extend the $jsonSchema validator of {table!r} to the fields of another source (dbplex schema diff).\n\n'
            "Set at level moderate: new documents must conform, existing ones that do not can still be updated.\n"
            'Review before applying."""\n\n'
            "from dbplex_mongo.schema import set_validator\n\n"
            f"BEFORE = {pprint.pformat(before, width=100, sort_dicts=False)}\n\n"
            f"AFTER = {pprint.pformat(after, width=100, sort_dicts=False)}\n\n\n"
            "def up(ctx):\n"
            f'    set_validator(ctx, {table!r}, AFTER, level="moderate", action="error")\n\n\n'
            f"def down(ctx):\n{down}"
        )
        return MigrationFile(suffix="py", description=migration_name(table), text=text)
