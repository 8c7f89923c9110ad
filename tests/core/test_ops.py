"""Uniform ops: construction checks and JSON decoding with errors that name the field."""

from __future__ import annotations

import pytest

from dbplex import Delete, Get, Put, PutMany, Scan, Update, ops
from dbplex.errors import OpError


def test_decodes_every_uniform_op() -> None:
    assert ops.decode('{"op": "get", "table": "t", "key": "k", "fields": ["a"]}') == Get("t", "k", ["a"])
    assert ops.decode('{"op": "put", "table": "t", "key": "k", "values": {"a": [1, {"b": null}]}}') == Put(
        "t", "k", {"a": [1, {"b": None}]}
    )
    assert ops.decode('{"op": "update", "table": "t", "key": "k", "values": {"a": 2}}') == Update("t", "k", {"a": 2})
    assert ops.decode('{"op": "delete", "table": "t", "key": "k"}') == Delete("t", "k")
    assert ops.decode('{"op": "scan", "table": "t", "start_key": "a", "limit": 5}') == Scan("t", "a", 5)
    assert ops.decode('{"op": "put_many", "table": "t", "records": {"k": {"a": 1}, "j": {}}}') == PutMany(
        "t", {"k": {"a": 1}, "j": {}}
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"op": "get", "table": "t"}', "missing required field `key`"),
        ('{"op": "get", "table": "t", "key": 5}', "Expected `str`, got `int` - at `key`"),
        (
            '{"op": "fetch", "table": "t"}',
            "Invalid value 'fetch' - at `op` .*known ops: delete, get, put, put_many, scan, update",
        ),
        ('{"table": "t", "key": "k"}', "missing required field `op`"),
        ('{"op": "scan", "table": "t", "limit": 0}', "Expected `int` >= 1 - at `limit`"),
        ('{"op": "get", "table": "drop table;", "key": "k"}', "at `table`"),
        ('{"op": "put", "table": "t", "key": "k", "values": {"$set": 1}}', "field '\\$set'"),
        ('{"op": "put", "table": "t", "key": "k", "values": {"a.b": 1}}', "field 'a.b'"),
        ('{"op": "get", "table": "t", "key": ""}', "at `key`"),
        ('{"op": "put_many", "table": "t", "records": {}}', "records: 0 given, must be between 1 and 100000"),
        ('{"op": "put_many", "table": "t", "records": {"k": {"$set": 1}}}', "field '\\$set'"),
        ("{nope", "not valid JSON"),
    ],
)
def test_malformed_op_json_names_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(OpError, match=f"op JSON: .*{expected}"):
        ops.decode(text)


def test_constructor_checks_match_the_json_rules() -> None:
    with pytest.raises(OpError, match="table"):
        Get("no spaces", "k")
    with pytest.raises(OpError, match="key"):
        Delete("t", "")
    with pytest.raises(OpError, match="_id"):
        Put("t", "k", {"_id": 1})
    with pytest.raises(OpError, match="limit"):
        Scan("t", "", 0)
    with pytest.raises(OpError, match="field '\\$x'"):
        Get("t", "k", fields=["$x"])
    with pytest.raises(OpError, match="field ''"):
        Scan("t", fields=[""])
    with pytest.raises(OpError, match="key"):
        PutMany("t", {"": {"a": 1}})
    with pytest.raises(OpError, match="_id"):
        PutMany("t", {"k": {"_id": 1}})


def test_reads_are_marked_for_routing() -> None:
    assert Get.is_read and Scan.is_read
    assert not (Put.is_read or Update.is_read or Delete.is_read or PutMany.is_read)


def test_ops_serialise_with_their_tag() -> None:
    assert ops.to_builtins(Scan("t", "a", 3)) == {
        "op": "scan",
        "table": "t",
        "start_key": "a",
        "limit": 3,
        "fields": None,
    }
