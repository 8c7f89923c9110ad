"""Uniform record ops on a real server: key layout, prefixes, TTLs and the key index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

import dbplex
from dbplex import Delete, Get, Put, Scan, Update
from dbplex.codec import unpack
from dbplex.errors import QueryError
from dbplex_redis import Command

from .conftest import wait_until


def keys_of(hub: dbplex.Hub, table: str, start: str = "", limit: int = 100) -> list[str]:
    return [row["key"] for row in hub.execute("r", Scan(table, start, limit))]


def test_records_are_hashes_with_a_marker_indexed_by_a_sorted_set(
    hub: dbplex.Hub, raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub.execute("r", Put(unique_table, "k1", {"name": "Ada", "n": 1}))
    record = raw.hgetall(f"{prefix}{unique_table}:r:k1")
    assert record.pop(b"") == b""
    assert {k: unpack(cast(bytes, v)) for k, v in record.items()} == {b"name": "Ada", b"n": 1}
    assert raw.zrange(f"{prefix}{unique_table}:keys", 0, -1, withscores=True) == [(b"k1", 0.0)]
    assert raw.ttl(f"{prefix}{unique_table}:r:k1") == -1


def test_a_record_without_fields_still_exists(hub: dbplex.Hub, unique_table: str) -> None:
    hub.execute("r", Put(unique_table, "empty", {}))
    assert hub.execute("r", Get(unique_table, "empty")).one() == {"key": "empty", "values": {}}
    assert hub.execute("r", Get(unique_table, "empty", fields=["a"])).one() == {"key": "empty", "values": {}}
    assert hub.execute("r", Update(unique_table, "empty", {})).affected == 1
    assert keys_of(hub, unique_table) == ["empty"]


def test_a_record_with_thousands_of_fields_round_trips(hub: dbplex.Hub, unique_table: str) -> None:
    values = {f"f{i}": i for i in range(5000)}
    hub.execute("r", Put(unique_table, "wide", values))
    assert hub.execute("r", Update(unique_table, "wide", {f"f{i}": -i for i in range(3000)})).affected == 1
    got = hub.execute("r", Get(unique_table, "wide")).one()["values"]
    assert got == {f"f{i}": -i if i < 3000 else i for i in range(5000)}


def test_keys_that_look_like_range_syntax_scan_in_code_point_order(hub: dbplex.Hub, unique_table: str) -> None:
    keys = ["-", "+", "[x", "(y", "a:b", "a b", "a\nb", "\x01", "\U0001f600", "\uffff"]
    for key in keys:
        hub.execute("r", Put(unique_table, key, {"k": key}))
    assert keys_of(hub, unique_table) == sorted(keys)
    assert keys_of(hub, unique_table, "(y", 2) == [k for k in sorted(keys) if k >= "(y"][:2]
    for key in keys:
        assert hub.execute("r", Get(unique_table, key)).one()["values"] == {"k": key}


def test_sources_with_different_prefixes_do_not_see_each_others_records(
    make_hub: Callable[..., dbplex.Hub], prefix: str, unique_table: str
) -> None:
    first, second = make_hub(options={"prefix": prefix + "one:"}), make_hub(options={"prefix": prefix + "two:"})
    first.execute("r", Put(unique_table, "k", {"owner": "one"}))
    second.execute("r", Put(unique_table, "k", {"owner": "two"}))
    second.execute("r", Put(unique_table, "only_two", {}))
    assert first.execute("r", Get(unique_table, "k")).one()["values"] == {"owner": "one"}
    assert keys_of(first, unique_table) == ["k"]
    assert keys_of(second, unique_table) == ["k", "only_two"]
    assert first.execute("r", Delete(unique_table, "k")).affected == 1
    assert second.execute("r", Get(unique_table, "k")).one()["values"] == {"owner": "two"}


def test_raw_commands_are_not_prefixed(hub: dbplex.Hub, raw: redis.Redis, prefix: str) -> None:
    hub.execute("r", Command(["SET", f"{prefix}plain", "v"]))
    assert raw.get(f"{prefix}plain") == b"v"


def test_records_of_a_ttl_source_expire_and_leave_scans(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub = make_hub(options={"prefix": prefix, "ttl": 0.3})
    hub.execute("r", Put(unique_table, "session", {"user": "ada"}))
    assert 0 < raw.pttl(f"{prefix}{unique_table}:r:session") <= 300
    assert wait_until(lambda: not hub.execute("r", Get(unique_table, "session")).rows)
    assert keys_of(hub, unique_table) == []
    assert raw.zscore(f"{prefix}{unique_table}:keys", "session") is None  # pruned by the scan


def test_every_write_of_a_ttl_source_restarts_the_clock(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub = make_hub(options={"prefix": prefix, "ttl": 60})
    hub.execute("r", Put(unique_table, "k", {"a": 1}))
    raw.pexpire(f"{prefix}{unique_table}:r:k", 5000)
    hub.execute("r", Update(unique_table, "k", {"a": 2}))
    assert raw.pttl(f"{prefix}{unique_table}:r:k") > 50_000


def test_writes_drop_expired_keys_from_the_index(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub = make_hub(options={"prefix": prefix, "ttl": 0.2})
    for key in ("a", "b", "c"):
        hub.execute("r", Put(unique_table, key, {}))
    assert wait_until(lambda: raw.exists(*(f"{prefix}{unique_table}:r:{k}" for k in "abc")) == 0)
    hub.execute("r", Put(unique_table, "d", {}))  # no scan: the write itself cleans up
    assert raw.zrange(f"{prefix}{unique_table}:keys", 0, -1) == [b"d"]


def test_scan_skips_expired_records_and_still_fills_its_limit(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    cache = make_hub(options={"prefix": prefix, "ttl": 0.2})
    store = make_hub(options={"prefix": prefix})  # same keys, no TTL, so no write-time pruning
    for key in ("a", "b", "c"):
        cache.execute("r", Put(unique_table, key, {}))
    for key in ("d", "e", "f"):
        store.execute("r", Put(unique_table, key, {}))
    assert wait_until(lambda: raw.exists(*(f"{prefix}{unique_table}:r:{k}" for k in "abc")) == 0)
    assert keys_of(store, unique_table, limit=2) == ["d", "e"]
    assert raw.zrange(f"{prefix}{unique_table}:keys", 0, -1) == [b"d", b"e", b"f"]


def test_delete_of_an_expired_record_reports_nothing_and_cleans_the_index(
    make_hub: Callable[..., dbplex.Hub], raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub = make_hub(options={"prefix": prefix, "ttl": 0.2})
    hub.execute("r", Put(unique_table, "k", {}))
    assert wait_until(lambda: not raw.exists(f"{prefix}{unique_table}:r:k"))
    assert hub.execute("r", Delete(unique_table, "k")).affected == 0
    assert hub.execute("r", Update(unique_table, "k", {"a": 1})).affected == 0
    assert not raw.exists(f"{prefix}{unique_table}:keys", f"{prefix}{unique_table}:ttl")


def test_a_key_holding_another_type_is_a_query_error(
    hub: dbplex.Hub, raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    raw.set(f"{prefix}{unique_table}:r:str", "x")
    with pytest.raises(QueryError, match=r"source 'r': get t_\w+/str: WRONGTYPE"):
        hub.execute("r", Get(unique_table, "str"))
    raw.hset(f"{prefix}{unique_table}:r:foreign", "a", "not msgpack \xc1")
    with pytest.raises(QueryError, match="did not write"):
        hub.execute("r", Get(unique_table, "foreign"))


def test_scripts_are_sent_again_after_the_server_forgets_them(
    private_server: Path, make_hub: Callable[..., dbplex.Hub]
) -> None:
    hub = make_hub(url=f"unix://{private_server}")
    hub.execute("r", Put("t", "k", {"a": 1}))
    hub.execute("r", Command(["SCRIPT", "FLUSH"]))  # a private server: flushing its cache hurts nobody
    hub.execute("r", Put("t", "k", {"a": 2}))
    assert hub.execute("r", Get("t", "k")).one()["values"] == {"a": 2}
