"""The plugin as the loader sees it: registration, lazy driver import, op JSON and options."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import dbplex
from dbplex import ops
from dbplex.errors import ConfigError, OpError
from dbplex_mongo import (
    OPS,
    Aggregate,
    Bulk,
    BulkDelete,
    BulkInsert,
    BulkUpdate,
    CreateIndex,
    Find,
    GridFSGet,
    GridFSPut,
    MongoOptions,
    Watch,
)


def test_backend_registers_schemes_capabilities_ops_and_options() -> None:
    backend = dbplex.plugins.load().backends["mongo"]
    assert backend.schemes == ("mongodb", "mongodb+srv")
    assert backend.capabilities == {"transactions", "aggregate", "files", "change_streams"}
    assert backend.ops == OPS and backend.options is MongoOptions
    assert backend.package == "dbplex-mongo" and backend.version == "0.1.0"


def test_loading_the_plugin_and_decoding_its_ops_imports_no_driver() -> None:
    script = textwrap.dedent(
        """
        import sys
        from dbplex import ops, plugins
        backend = plugins.load().backends["mongo"]
        ops.decode('{"op": "mongo.find", "collection": "c"}', backend.ops)
        loaded = sorted(m for m in ("pymongo", "bson", "gridfs") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_own_ops_decode_from_json() -> None:
    assert ops.decode(
        '{"op": "mongo.find", "collection": "users", "filter": {"age": {"$gt": 3}}, "sort": {"age": -1}, "limit": 2}',
        OPS,
    ) == Find("users", {"age": {"$gt": 3}}, sort={"age": -1}, limit=2)
    assert ops.decode('{"op": "mongo.aggregate", "collection": "c", "pipeline": [{"$match": {}}]}', OPS) == Aggregate(
        "c", [{"$match": {}}]
    )
    bulk = ops.decode(
        '{"op": "mongo.bulk", "collection": "c", "ordered": false, "requests": ['
        '{"kind": "insert", "document": {"a": 1}},'
        '{"kind": "update", "filter": {"a": 1}, "update": {"$inc": {"a": 1}}, "many": true},'
        '{"kind": "delete", "filter": {"a": 9}}]}',
        OPS,
    )
    assert bulk == Bulk(
        "c",
        [BulkInsert({"a": 1}), BulkUpdate({"a": 1}, {"$inc": {"a": 1}}, many=True), BulkDelete({"a": 9})],
        ordered=False,
    )
    assert ops.decode('{"op": "mongo.create_index", "collection": "c", "keys": {"a": 1}, "unique": true}', OPS) == (
        CreateIndex("c", {"a": 1}, unique=True)
    )
    # bytes travel as base64 in JSON
    assert ops.decode('{"op": "mongo.gridfs_put", "filename": "f", "data": "AAH/"}', OPS) == GridFSPut(
        "f", b"\x00\x01\xff"
    )
    assert ops.decode('{"op": "mongo.gridfs_get", "filename": "f", "revision": 0}', OPS) == GridFSGet("f", revision=0)
    assert ops.decode('{"op": "mongo.watch", "collection": "c", "max_events": 5}', OPS) == Watch("c", max_events=5)


def test_read_ops_say_so_for_routing() -> None:
    assert Find.is_read and GridFSGet.is_read and Watch.is_read
    assert not (Aggregate.is_read or Bulk.is_read or CreateIndex.is_read or GridFSPut.is_read)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"op": "mongo.find", "collection": "a$b"}', "collection"),
        ('{"op": "mongo.find", "collection": "c", "limit": -1}', "limit"),
        ('{"op": "mongo.bulk", "collection": "c", "requests": []}', "at least one request"),
        ('{"op": "mongo.bulk", "collection": "c", "requests": [{"kind": "upsert"}]}', "kind"),
        ('{"op": "mongo.create_index", "collection": "c", "keys": {}}', "at least one field"),
        ('{"op": "mongo.gridfs_get"}', "exactly one of filename and file_id"),
        ('{"op": "mongo.gridfs_get", "filename": "f", "file_id": "x"}', "exactly one of filename and file_id"),
        ('{"op": "mongo.watch", "max_wait": 0}', "max_wait"),
    ],
)
def test_malformed_ops_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(OpError, match=message):
        ops.decode(text, OPS)


def test_ops_built_in_python_are_checked_too() -> None:
    with pytest.raises(OpError, match="at least one request"):
        Bulk("c", [])
    with pytest.raises(OpError, match="collection"):
        Find("")


@pytest.mark.parametrize(
    ("options", "field"),
    [({"database": "a.b"}, "database"), ({"gridfs_bucket": "$x"}, "gridfs_bucket"), ({"databse": "x"}, "databse")],
)
def test_bad_options_name_their_field(options: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=f"sources.docs.options.{field}|unknown field `{field}`"):
        dbplex.open({"sources": {"docs": {"url": "mongodb://127.0.0.1/x", "options": options}}})
