"""The uniform value domain: each rule, its edge accepted, one step past refused with the path named.

Every backend's agreement at the edges is tested against real servers in
``tests/conformance/test_differential.py``; these tests pin the rules and the messages.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dbplex import Delete, Get, InvalidValue, OpError, Put, Scan, Update
from dbplex.cli.main import cli
from dbplex.values import INT_MAX, INT_MIN, MAX_DEPTH, MAX_KEY_BYTES, check_record


def deep(levels: int, leaf: Any = 1) -> Any:
    for level in range(levels):
        leaf = {"d": leaf} if level % 2 else [leaf]
    return leaf


@pytest.mark.parametrize(
    "value",
    [
        INT_MAX,
        INT_MIN,
        True,
        1.7976931348623157e308,
        -0.0,
        "a\x00b",  # NUL inside a value is kept exactly by every backend
        "日本",
        b"\x00\xff",
        None,
        (1, 2),
        deep(MAX_DEPTH),
        {"_id": 1},  # `_id` is reserved at the top level only
    ],
)
def test_values_at_the_edges_are_accepted(value: Any) -> None:
    Put("t", "k", {"f": value})
    Update("t", "k", {"f": value})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (INT_MAX + 1, "field 'f': int 9223372036854775808 is outside the 64-bit signed range"),
        (INT_MIN - 1, "field 'f': int -9223372036854775809 is outside the 64-bit signed range"),
        ([1, {"a": 2**64}], r"field 'f' at \[1\]\['a'\]: int 18446744073709551616 is outside"),
        (float("nan"), "field 'f': float nan: floats must be finite"),
        ({"x": [float("-inf")]}, r"field 'f' at \['x'\]\[0\]: float -inf: floats must be finite"),
        (deep(MAX_DEPTH + 1), rf"field 'f' at \[0\]\['d'\].*\({MAX_DEPTH} levels down\): nested too deeply"),
        ("\udc80", "lone surrogate"),
        ({"a.b": 1}, "field 'f': dict key 'a.b': keys of nested dicts"),
        ({"$gt": 1}, "field 'f': dict key '\\$gt'"),
        ({"": 1}, "field 'f': dict key ''"),
        ({1: "a"}, "field 'f': dict key 1"),
        ({"a\x00": 1}, "dict key 'a\\\\x00'"),
        ({1, 2}, "type set is not storable by every backend"),
        (bytearray(b"x"), "type bytearray"),
        (datetime.date(2024, 1, 1), "type date"),
    ],
)
def test_values_past_the_edges_are_refused_naming_field_path_and_rule(value: Any, message: str) -> None:
    for op_type in (Put, Update):
        with pytest.raises(InvalidValue, match=message):
            op_type("t", "k", {"f": value})


def test_a_value_that_contains_itself_is_refused_not_a_recursion_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidValue, match="nested too deeply"):
        check_record({"f": loop})


@pytest.mark.parametrize(
    "key",
    ["k" * MAX_KEY_BYTES, "é" * (MAX_KEY_BYTES // 2), "😀" * (MAX_KEY_BYTES // 4)],
)
def test_keys_of_the_maximum_utf8_length_are_accepted(key: str) -> None:
    for op in (Get("t", key), Delete("t", key), Put("t", key, {}), Update("t", key, {}), Scan("t", key)):
        assert op


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("k" * (MAX_KEY_BYTES + 1), f"{MAX_KEY_BYTES + 1} bytes of UTF-8; keys are at most {MAX_KEY_BYTES}"),
        ("é" * (MAX_KEY_BYTES // 2) + "z", f"{MAX_KEY_BYTES + 1} bytes of UTF-8"),
        ("a\x00", "without NUL"),
        ("\ud800", "Unicode text"),
    ],
)
def test_keys_past_the_edges_are_refused_by_every_keyed_op(key: str, message: str) -> None:
    for build in (
        lambda: Get("t", key),
        lambda: Delete("t", key),
        lambda: Put("t", key, {}),
        lambda: Update("t", key, {"a": 1}),
    ):
        with pytest.raises(InvalidValue, match=f"^key .*{message}"):
            build()
    with pytest.raises(InvalidValue, match=f"^start_key .*{message}"):
        Scan("t", key)


def test_a_long_key_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidValue) as refused:
        Get("t", "k" * 10_000)
    assert len(str(refused.value)) < 200 and "10002 chars" in str(refused.value)


def test_field_names_with_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidValue, match="field names are non-empty"):
        Put("t", "k", {"\ud800": 1})
    with pytest.raises(InvalidValue, match="field names are non-empty"):
        Get("t", "k", fields=["\ud800"])


def test_invalid_value_is_an_op_error_with_exit_code_2() -> None:
    assert issubclass(InvalidValue, OpError) and InvalidValue.exit_code == 2


def test_cli_refuses_json_nested_a_thousand_deep_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text('[sources.r]\nurl = "redis://127.0.0.1:1/0"\n')
    text = '{"op": "put", "table": "t", "key": "k", "values": {"f": ' + "[" * 1000 + "]" * 1000 + "}}"
    result = CliRunner().invoke(cli, ["--config", str(config), "op", "r", text])
    assert result.exit_code == 2
    # one line, whichever layer refuses it: the decoder (a RecursionError, Python <= 3.12) or the
    # value rules, which then also say where (Python 3.13 recurses deeper)
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: op JSON: ")
    assert line.endswith(f"nested too deeply: values nest at most {MAX_DEPTH} lists and dicts")


def test_a_field_name_that_is_not_a_string_is_refused_by_name() -> None:
    with pytest.raises(InvalidValue, match=r"field \['x'\]: field names are non-empty"):
        Get("t", "k", fields=[["x"]])  # type: ignore[list-item]
    with pytest.raises(InvalidValue, match="field 1: field names"):
        Put("t", "k", {1: "a"})  # type: ignore[dict-item]
