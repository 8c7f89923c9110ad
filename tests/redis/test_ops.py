"""The Redis ops on a real server: raw commands, pipelines, publish and subscribe."""

from __future__ import annotations

import threading

import pytest
import redis

import dbplex
import dbplex_redis
from dbplex import Get, Put
from dbplex.errors import OpError, QueryError
from dbplex.ops import decode
from dbplex_redis import Command, Message, Pipeline, Publish
from dbplex_redis.ops import OPS


def value(hub: dbplex.Hub, *args: object, decode: bool = True) -> object:
    return hub.execute("r", Command(list(args), decode=decode)).one()["value"]


def test_commands_reply_as_the_server_does(hub: dbplex.Hub, prefix: str) -> None:
    assert value(hub, "SET", f"{prefix}k", "héllo") == "OK"
    assert value(hub, "GET", f"{prefix}k") == "héllo"
    assert value(hub, "GET", f"{prefix}k", decode=False) == "héllo".encode()
    assert value(hub, "GET", f"{prefix}missing") is None
    assert value(hub, "INCRBY", f"{prefix}n", 5) == 5
    assert value(hub, "INCRBYFLOAT", f"{prefix}n", 0.5) == "5.5"
    assert value(hub, "RPUSH", f"{prefix}l", b"\xff\x00", "b") == 2
    assert value(hub, "LRANGE", f"{prefix}l", 0, -1) == [b"\xff\x00", "b"]
    assert value(hub, "HSET", f"{prefix}h", "f", "v") == 1
    assert value(hub, "HGETALL", f"{prefix}h") == {"f": "v"}  # a RESP3 map
    assert value(hub, "ZADD", f"{prefix}z", 1.5, "m") == 1
    assert value(hub, "ZSCORE", f"{prefix}z", "m") == 1.5  # a RESP3 double


def test_command_can_set_the_ttl_of_one_record(
    hub: dbplex.Hub, raw: redis.Redis, prefix: str, unique_table: str
) -> None:
    hub.execute("r", Put(unique_table, "k", {"a": 1}))
    assert value(hub, "PEXPIRE", f"{prefix}{unique_table}:r:k", 60_000) == 1
    assert 0 < raw.pttl(f"{prefix}{unique_table}:r:k") <= 60_000


def test_a_refused_command_is_a_query_error_naming_it(hub: dbplex.Hub, prefix: str) -> None:
    value(hub, "SET", f"{prefix}s", "x")
    with pytest.raises(QueryError, match="source 'r': redis.command INCR: .*not an integer"):
        value(hub, "INCR", f"{prefix}s")
    with pytest.raises(QueryError, match="WRONGTYPE"):
        value(hub, "LPUSH", f"{prefix}s", "x")
    with pytest.raises(QueryError, match="unknown command"):
        value(hub, "NO_SUCH_COMMAND")


def test_ops_arrive_as_json(hub: dbplex.Hub, prefix: str) -> None:
    op = decode(f'{{"op": "redis.command", "args": ["SET", "{prefix}j", 42]}}', OPS)
    assert hub.execute("r", op).one() == {"value": "OK"}
    assert value(hub, "GET", f"{prefix}j") == "42"


def test_pipeline_sends_commands_in_one_checkout(hub: dbplex.Hub, prefix: str) -> None:
    before = hub.pool("r").stats().acquired
    commands: list[list[object]] = [["SET", f"{prefix}p", 1], ["INCR", f"{prefix}p"], ["GET", f"{prefix}p"]]
    for transaction in (True, False):
        rows = hub.execute("r", Pipeline(commands, transaction=transaction)).rows
        assert rows == [{"value": "OK"}, {"value": 2}, {"value": "2"}]
    assert hub.pool("r").stats().acquired == before + 2


def test_pipeline_errors_name_the_command_and_say_the_others_ran(hub: dbplex.Hub, prefix: str) -> None:
    commands: list[list[object]] = [["SET", f"{prefix}s", "x"], ["INCR", f"{prefix}s"], ["SET", f"{prefix}after", "y"]]
    for transaction in (True, False):
        with pytest.raises(
            QueryError, match=r"command 2 of 3 \(INCR\) failed: .*not an integer.*the other commands ran"
        ):
            hub.execute("r", Pipeline(commands, transaction=transaction))
        assert value(hub, "GETDEL", f"{prefix}after") == "y"
    rows = hub.execute("r", Pipeline(commands, raise_on_error=False)).rows
    assert rows[0] == {"value": "OK"} and "not an integer" in rows[1]["error"] and rows[2] == {"value": "OK"}


def test_a_transaction_with_a_command_the_server_cannot_queue_runs_nothing(hub: dbplex.Hub, prefix: str) -> None:
    with pytest.raises(QueryError, match="aborted, no command ran"):
        hub.execute("r", Pipeline([["SET", f"{prefix}t", "1"], ["NO_SUCH_COMMAND"]]))
    assert value(hub, "EXISTS", f"{prefix}t") == 0


def test_publish_counts_receivers_and_subscribe_delivers(hub: dbplex.Hub, prefix: str) -> None:
    channel = f"{prefix}orders"
    assert hub.execute("r", Publish(channel, "nobody listens")).affected == 0
    with dbplex_redis.subscribe(hub, "r", [channel]) as sub:
        assert hub.execute("r", Publish(channel, "created 42")).affected == 1
        assert sub.get(timeout=5) == Message(channel=channel, data="created 42")
        hub.execute("r", Publish(channel, b"\xff"))
        assert sub.get(timeout=5) == Message(channel=channel, data=b"\xff")
        assert sub.get(timeout=0.05) is None
    assert hub.execute("r", Publish(channel, "after close")).affected == 0


def test_pattern_subscriptions_report_the_pattern(hub: dbplex.Hub, prefix: str) -> None:
    with dbplex_redis.subscribe(hub, "r", patterns=[f"{prefix}ev.*"], decode=False) as sub:
        hub.execute("r", Publish(f"{prefix}ev.created", "x"))
        assert sub.get(timeout=5) == Message(channel=f"{prefix}ev.created", data=b"x", pattern=f"{prefix}ev.*")


def test_iterating_a_subscription_yields_messages_in_order(hub: dbplex.Hub, prefix: str) -> None:
    channel = f"{prefix}stream"
    with dbplex_redis.subscribe(hub, "r", [channel]) as sub:
        publisher = threading.Thread(target=lambda: [hub.execute("r", Publish(channel, str(i))) for i in range(5)])
        publisher.start()
        received = [
            message.data for _, message in zip(range(5), sub, strict=False)
        ]  # range first: zip stops before a 6th wait
        publisher.join()
    assert received == ["0", "1", "2", "3", "4"]


def test_a_subscription_holds_one_connection_until_closed(hub: dbplex.Hub, prefix: str) -> None:
    with dbplex_redis.subscribe(hub, "r", [f"{prefix}c"]):
        assert hub.pool("r").stats().used == 1
    assert hub.pool("r").stats().used == 0


def test_subscribe_needs_a_channel(hub: dbplex.Hub) -> None:
    with pytest.raises(OpError, match="at least one channel"):
        dbplex_redis.subscribe(hub, "r", [])


def test_the_native_client_is_redis_py(hub: dbplex.Hub, prefix: str, unique_table: str) -> None:
    with hub.connection("r") as client:
        assert isinstance(client, redis.Redis)
        client.set(f"{prefix}native", "v")
        with client.pipeline() as pipe:
            pipe.get(f"{prefix}native")
            assert pipe.execute() == [b"v"]
    assert hub.execute("r", Get(unique_table, "nothing")).rows == []
