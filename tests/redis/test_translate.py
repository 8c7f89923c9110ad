"""Translation without a server: key names, commands, scripts, replies, options and op validation."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import msgspec
import pytest

import dbplex
from dbplex import Delete, Get, Put, Scan, Update
from dbplex.codec import pack
from dbplex.errors import ConfigError, OpError, UnsupportedError
from dbplex.ops import decode
from dbplex_redis import Command, Pipeline, Publish, RedisOptions, translate
from dbplex_redis.ops import OPS
from dbplex_redis.plugin import plugin
from dbplex_redis.translate import MARKER, Keys

KEYS = Keys("app:")


def test_every_key_name_comes_from_keys() -> None:
    assert KEYS.record("users", "u:1") == "app:users:r:u:1"
    assert KEYS.records("users") == "app:users:r:"
    assert KEYS.index("users") == "app:users:keys"
    assert KEYS.expiry("users") == "app:users:ttl"
    assert Keys("").record("t", "k") == "t:r:k"


def test_keys_are_shared_per_prefix() -> None:
    assert translate.KEYS["x:"] is translate.KEYS["x:"]
    assert translate.KEYS["x:"].prefix == "x:"


@pytest.mark.parametrize(("ttl", "ms"), [(None, 0), (0.3, 300), (2, 2000), (0.0001, 1)])
def test_ttl_becomes_whole_milliseconds(ttl: float | None, ms: int) -> None:
    assert translate.ttl_ms(ttl) == ms


def test_get_reads_all_fields_or_the_marker_and_chosen_ones() -> None:
    assert translate.get(KEYS, Get("t", "k")) == ("HGETALL", "app:t:r:k")
    assert translate.get(KEYS, Get("t", "k", fields=["a", "b"])) == ("HMGET", "app:t:r:k", MARKER, "a", "b")


def test_values_decode_a_hash_and_skip_the_marker() -> None:
    reply = {MARKER: MARKER, b"a": pack(1), b"h\xc3\xa9": pack([b"x", None])}
    assert translate.values(reply, None, "k") == {"a": 1, "hé": [b"x", None]}
    assert translate.values({}, None, "k") is None
    assert translate.values([MARKER, pack(1), None], ["a", "b"], "k") == {"a": 1}
    assert translate.values([None, None], ["a"], "k") is None
    assert translate.values([MARKER], [], "k") == {}


def test_values_refuse_a_hash_dbplex_did_not_write() -> None:
    with pytest.raises(translate.NotARecord, match="did not write"):
        translate.values({b"a": b"\xc1"}, None, "app:t:r:k")


def test_put_replaces_the_hash_marks_it_and_indexes_the_key() -> None:
    script, args = translate.put(KEYS, Put("t", "k", {"a": 1, "b": "x"}), 300)
    assert script is translate.PUT
    assert args == (
        4,
        "app:t:r:k",
        "app:t:keys",
        "app:t:ttl",
        "app:t:changes",
        "k",
        300,
        "app:t:r:",
        MARKER,
        MARKER,
        "a",
        pack(1),
        "b",
        pack("x"),
    )


def test_update_sets_only_the_given_fields() -> None:
    script, args = translate.update(KEYS, Update("t", "k", {"a": 2}), 0)
    assert script is translate.UPDATE
    assert args == (4, "app:t:r:k", "app:t:keys", "app:t:ttl", "app:t:changes", "k", 0, "app:t:r:", "a", pack(2))


def test_delete_and_prune_name_the_index_expiry_and_changes_keys() -> None:
    assert translate.delete(KEYS, Delete("t", "k")) == (
        translate.DELETE,
        (4, "app:t:r:k", "app:t:keys", "app:t:ttl", "app:t:changes", "k"),
    )
    assert translate.prune(KEYS, "t", ["a", "b"]) == (
        translate.PRUNE,
        (2, "app:t:keys", "app:t:ttl", "app:t:r:", "a", "b"),
    )


def test_scripts_are_called_by_their_sha1() -> None:
    for script in (translate.PUT, translate.UPDATE, translate.DELETE, translate.PRUNE):
        assert script.sha == hashlib.sha1(script.text.encode()).hexdigest()


def test_scan_ranges_over_the_index_in_byte_order() -> None:
    assert translate.scan_keys(KEYS, "t", translate.from_key(""), 10) == (
        "ZRANGEBYLEX",
        "app:t:keys",
        "-",
        "+",
        "LIMIT",
        0,
        10,
    )
    assert translate.from_key("b") == "[b"
    assert translate.after_key("b") == "(b"
    names, reads = translate.scan_reads(KEYS, Scan("t", fields=["a"]), [b"x", "é".encode()])
    assert names == ["x", "é"]
    assert reads == [("HMGET", "app:t:r:x", MARKER, "a"), ("HMGET", "app:t:r:é", MARKER, "a")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "at least its name"),
        (["SET", "k", None], "must be str, bytes, int or float"),
        (["SET", "k", True], "must be str, bytes, int or float"),
        (["subscribe", "ch"], "SUBSCRIBE.*dbplex_redis.subscribe"),
        (["MULTI"], "MULTI.*redis.pipeline"),
        ([b"select", 1], "SELECT.*URL or options"),
        (["client", "reply", "off"], "CLIENT REPLY"),
    ],
)
def test_commands_that_would_break_a_pooled_connection_are_refused(args: list[Any], message: str) -> None:
    with pytest.raises(OpError, match=message):
        Command(args)


def test_ordinary_commands_are_accepted() -> None:
    Command(["GET", "k"])
    Command([b"SET", b"k", b"\xff", "EX", 10])
    Command(["CLIENT", "LIST"])
    Pipeline([["INCR", "a"], ["EXPIRE", "a", 1.5]])
    with pytest.raises(UnsupportedError):
        Pipeline([["INCR", "a"], ["WATCH", "a"]])


def test_publish_takes_text_or_bytes() -> None:
    Publish("ch", "text")
    Publish("ch", b"\x00")
    with pytest.raises(OpError, match="str or bytes"):
        Publish("ch", 5)


def test_own_ops_decode_from_json() -> None:
    op = decode('{"op": "redis.pipeline", "commands": [["SET", "k", 1], ["GET", "k"]], "transaction": false}', OPS)
    assert op == Pipeline([["SET", "k", 1], ["GET", "k"]], transaction=False)
    assert decode('{"op": "redis.command", "args": ["PING"]}', OPS) == Command(["PING"])
    with pytest.raises(OpError, match="SUBSCRIBE"):
        decode('{"op": "redis.command", "args": ["SUBSCRIBE", "x"]}', OPS)


def test_replies_decode_utf8_and_keep_other_bytes() -> None:
    reply = [b"ok", b"\xff", 3, None, {b"k": {b"v"}}, (b"t",)]
    assert translate.decode_reply(reply) == ["ok", b"\xff", 3, None, {"k": ["v"]}, ["t"]]
    assert translate.plain_reply([b"ok", (b"t",), {b"v"}]) == [b"ok", [b"t"], [b"v"]]


def test_info_lines_become_a_dict() -> None:
    info = b"# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\nexecutable:/usr/bin/redis-server\r\n"
    assert translate.parse_info(info) == {
        "redis_version": "7.2.4",
        "redis_mode": "standalone",
        "executable": "/usr/bin/redis-server",
    }


def test_options_validate_prefix_ttl_and_unknown_fields() -> None:
    assert msgspec.convert({"prefix": "app:", "ttl": 0.5}, RedisOptions) == RedisOptions(prefix="app:", ttl=0.5)
    with pytest.raises(msgspec.ValidationError, match="must end with a separator"):
        msgspec.convert({"prefix": "app"}, RedisOptions)
    with pytest.raises(msgspec.ValidationError, match="ttl"):
        msgspec.convert({"ttl": 0}, RedisOptions)
    with pytest.raises(msgspec.ValidationError, match="prefx"):
        msgspec.convert({"prefx": "a:"}, RedisOptions)


def test_a_source_with_bad_options_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="source 'c': prefix 'c' must end with a separator"):
        dbplex.open({"sources": {"c": {"url": "redis://127.0.0.1:1/0", "options": {"prefix": "c"}}}})


def test_backend_declares_schemes_capabilities_and_ops() -> None:
    backends: list[dbplex.Backend] = []
    plugin.dbplex_register_backends(backends.append)
    (backend,) = backends
    assert backend.name == "redis" and backend.schemes == ("redis", "rediss", "unix")
    assert backend.capabilities == {"ttl", "pubsub", "pipelines"}
    assert set(backend.ops) == {Command, Pipeline, Publish} and backend.options is RedisOptions
    assert backend.version


def test_loading_the_plugin_imports_no_driver() -> None:
    code = "import sys, dbplex_redis, dbplex_redis.plugin; assert 'redis' not in sys.modules, 'redis imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
