"""Translation is pure: statements and stored records, checked without a database."""

from __future__ import annotations

from dbplex import Get, Put, Scan, Update
from dbplex.codec import pack, unpack

from dbplex_sqlite import Execute, translate


def test_statements_carry_table_and_key_as_parameters_never_as_sql_text() -> None:
    sql, params = translate.get(Get("Users", "k'1"))
    assert "Users" not in sql
    assert "k'1" not in sql
    assert params == ("Users", "k'1")
    assert translate.scan(Scan("t", "m", 7))[1] == ("t", "m", 7)


def test_put_stores_the_values_packed_and_update_sends_only_the_patch() -> None:
    values = {"a": b"\x00", "b": 1e16}
    assert unpack(translate.put(Put("t", "k", values))[1][2]) == values
    assert unpack(translate.update(Update("t", "k", {"b": None}))[1][0]) == {"b": None}


def test_merge_sets_patched_fields_and_keeps_the_rest() -> None:
    merged = translate.merge(pack({"a": 1, "b": 2}), pack({"b": None, "c": [3]}))
    assert unpack(merged) == {"a": 1, "b": None, "c": [3]}


def test_record_selects_requested_fields() -> None:
    stored = pack({"a": 1, "b": 2})
    assert translate.record("k", stored, None) == {"key": "k", "values": {"a": 1, "b": 2}}
    assert translate.record("k", stored, ["b", "zz"]) == {"key": "k", "values": {"b": 2}}


def test_execute_passes_sql_and_parameters_through() -> None:
    assert translate.execute(Execute("select ?", [1])) == ("select ?", (1,))
