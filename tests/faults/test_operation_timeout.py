"""A server frozen with SIGSTOP while ops are in flight: each op fails, naming the source.

The frozen server keeps its sockets open and its kernel acknowledges what is sent, so nothing at
the TCP level ends the wait: only the source's ``operation_timeout`` does. The ops must end
with an error while the server is still frozen, not succeed once it continues.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import dbplex
from dbplex import Get, Put, sandbox
from dbplex.errors import SourceUnavailable
from tests.faults.conftest import eventually, figure, frozen

OPERATION_TIMEOUT = 2.0
#: how long the test keeps a server frozen at most: far longer than any bound under test.
FREEZE = 20.0


def ops_during_freeze(hub: dbplex.Hub, source: str, server: sandbox.Server, count: int) -> list[tuple[str, Any, float]]:
    """Start ``count`` Puts, freeze ``server``, wait (while frozen) for them to end, continue it.

    Each outcome is ("error", exception, seconds), ("ok", result, seconds) for a Put that ended
    while the server was frozen, or ("hung", None, seconds) for one that had not ended by then.
    """
    outcomes: list[tuple[str, Any, float]] = []
    lock = threading.Lock()

    def put(i: int) -> None:
        started = time.monotonic()
        try:
            result: tuple[str, Any] = ("ok", hub.execute(source, Put("frozen", f"k{i}", {"i": i})))
        except Exception as exc:  # the outcome under test
            result = ("error", exc)
        with lock:
            outcomes.append((*result, time.monotonic() - started))

    threads = [threading.Thread(target=put, args=(i,)) for i in range(count)]
    with frozen(server):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(FREEZE)
        with lock:
            ended = list(outcomes)
    for thread in threads:
        thread.join()
    return ended + [("hung", None, FREEZE)] * (count - len(ended))


def assert_failed_naming(outcomes: list[tuple[str, Any, float]], source: str, count: int) -> None:
    assert [kind for kind, _, _ in outcomes] == ["error"] * count, outcomes
    for _, exc, seconds in outcomes:
        assert isinstance(exc, SourceUnavailable), repr(exc)
        # the operation timeout fired, or (MongoDB) the driver's monitor gave the server up first
        # and cancelled the op: either way it ended, and the error names the source
        message = str(exc)
        assert message.startswith(f"source {source!r}: "), message
        assert "timeout" in message or "lost the connection" in message, message
        figure(f"{source}: frozen server -> op failed (operation_timeout {OPERATION_TIMEOUT:g} s)", seconds)
        print(f"{source} error: {exc}")


def bounded(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "connect_timeout": 2,
        "operation_timeout": OPERATION_TIMEOUT,
        "pool": {"timeout": 2, "min_size": 2},
    }


def test_pg_ops_in_flight_on_a_frozen_primary_fail(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = open_hub({"pg": bounded(drill.server("pg").url)})
    hub.execute("pg", Put("frozen", "warm", {"i": 0}))  # the table exists: each Put is one statement
    outcomes = ops_during_freeze(hub, "pg", drill.server("pg"), 2)
    assert_failed_naming(outcomes, "pg", 2)
    assert hub.execute("pg", Get("frozen", "warm")).rows  # the pool serves again once it continues


def test_pg_async_ops_in_flight_on_a_frozen_primary_fail(drill: sandbox.Sandbox) -> None:
    """The same under asyncio, where the client's deadline is a timer on the event loop: the ops
    fail with the sync error while the server is frozen, and their connections are counted lost."""
    server = drill.server("pg")

    async def put(hub: dbplex.AsyncHub, i: int) -> tuple[str, Any, float]:
        started = time.monotonic()
        try:
            result: tuple[str, Any] = (
                "ok",
                await asyncio.wait_for(hub.execute("pg", Put("frozen", f"k{i}", {"i": i})), FREEZE),
            )
        except asyncio.TimeoutError:
            result = ("hung", None)
        except Exception as exc:  # the outcome under test
            result = ("error", exc)
        return (*result, time.monotonic() - started)

    async def main() -> None:
        async with dbplex.open_async({"sources": {"pg": bounded(server.url)}}) as hub:
            await hub.execute("pg", Put("frozen", "warm", {"i": 0}))
            async with hub.connection("pg"), hub.connection("pg"):
                pass  # two connections open: each Put is in flight on one when the server freezes
            with frozen(server):
                outcomes = await asyncio.gather(put(hub, 1), put(hub, 2))
            assert_failed_naming(list(outcomes), "pg", 2)
            assert hub.pool_stats()["pg"].lost == 2  # their state is unknown: closed, not lent again
            assert (await hub.execute("pg", Get("frozen", "warm"))).rows  # the pool serves again once it continues

    asyncio.run(main())


def test_pg_server_side_bound_cancels_a_slow_statement(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    from dbplex.errors import QueryError
    from dbplex_pg.ops import SQL

    hub = open_hub({"pg": {"url": drill.server("pg").url, "operation_timeout": 0.5}})
    started = time.monotonic()
    with pytest.raises(QueryError, match="source 'pg': canceling statement due to statement timeout"):
        hub.execute("pg", SQL("SELECT pg_sleep(5)"))
    figure("pg: pg_sleep(5) cancelled by the server (operation_timeout 0.5 s)", time.monotonic() - started)
    assert hub.execute("pg", SQL("SELECT 1 AS one")).scalar() == 1  # the connection stayed usable


def test_redis_ops_in_flight_on_a_frozen_server_fail(
    drill: sandbox.Sandbox, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = open_hub({"redis": bounded(drill.server("redis").url)})
    hub.execute("redis", Put("frozen", "warm", {"i": 0}))
    outcomes = ops_during_freeze(hub, "redis", drill.server("redis"), 2)
    assert_failed_naming(outcomes, "redis", 2)
    # the timed-out connections were discarded (out of step) and reopening them failed while the
    # server was frozen: the pool serves again after its next reconnection attempt
    eventually(lambda: _serves(hub, "redis"), 15, "the pool serves again")
    assert hub.execute("redis", Get("frozen", "warm")).rows


def _serves(hub: dbplex.Hub, source: str) -> bool:
    try:
        hub.execute(source, Get("frozen", "warm"))
    except SourceUnavailable:
        return False
    return True


def test_mongo_ops_in_flight_on_a_frozen_server_fail(
    mongo_server: sandbox.Server, open_hub: Callable[[dict[str, Any]], dbplex.Hub]
) -> None:
    hub = open_hub({"mongo": bounded(mongo_server.url)})
    hub.execute("mongo", Put("frozen", "warm", {"i": 0}))
    outcomes = ops_during_freeze(hub, "mongo", mongo_server, 2)
    assert_failed_naming(outcomes, "mongo", 2)
    assert hub.execute("mongo", Get("frozen", "warm")).rows
