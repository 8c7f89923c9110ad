"""The backend conformance suite, on a plain source and on a prefixed cache source with a TTL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import redis

import dbplex
import dbplex_redis
from dbplex.testing.conformance import ConformanceSuite, RecordsSection
from dbplex_redis import Command, Pipeline, Publish


def kill_clients(url: str, name: str) -> int:
    """CLIENT KILL every connection named ``name`` (CLIENT KILL has no name filter: by id, from CLIENT LIST)."""
    with redis.Redis.from_url(url) as admin:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        return sum(int(admin.client_kill_filter(_id=str(i))) for i in ids)


def expiring_keys(hub: dbplex.Hub, table: str) -> None:
    """The ``ttl`` capability: a key set to expire is gone after its time."""
    hub.execute("s", Command(["SET", f"{{{table}}}:ttl", "v", "PX", 200]))
    assert 0 < hub.execute("s", Command(["PTTL", f"{{{table}}}:ttl"])).scalar() <= 200
    time.sleep(0.3)
    assert hub.execute("s", Command(["GET", f"{{{table}}}:ttl"])).scalar() is None


def one_round_trip(hub: dbplex.Hub, table: str) -> None:
    """The ``pipelines`` capability: several commands, their replies in order."""
    commands = [["SET", f"{{{table}}}:p", "1"], ["INCR", f"{{{table}}}:p"]]
    assert hub.execute("s", Pipeline(commands)).rows == [{"value": "OK"}, {"value": 2}]


def with_client_name(url: str, tag: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}client_name={tag}"


class TestConformance(ConformanceSuite):
    backend = "redis"

    def tagged_url(self, url: str, tag: str) -> str:
        return with_client_name(url, tag)

    def kill_connections(self, url: str, tag: str) -> int:
        return kill_clients(url, tag)

    @contextmanager
    def isolated(self, url: str) -> Iterator[dict[str, Any]]:
        prefix = f"conf_{uuid.uuid4().hex[:10]}:"
        try:
            yield {"url": url, "options": {"prefix": prefix}}
        finally:
            with redis.Redis.from_url(url) as admin:
                doomed = list(admin.scan_iter(match=f"{prefix}*", count=1000))
                if doomed:
                    admin.delete(*doomed)

    def plant(self, hub: dbplex.Hub, table: str, rows: list[dict[str, Any]]) -> str:
        commands = [["HSET", f"{table}:{r['id']}", "name", r["name"], "n", r["n"]] for r in rows]
        if commands:
            hub.execute("s", Pipeline(commands))
        return f"{table}:*"

    def check_ttl(self, hub: dbplex.Hub, table: str) -> None:
        expiring_keys(hub, table)

    def check_pipelines(self, hub: dbplex.Hub, table: str) -> None:
        one_round_trip(hub, table)

    def check_pubsub(self, hub: dbplex.Hub, table: str) -> None:
        channel = f"{table}:channel"
        with dbplex_redis.subscribe(hub, "s", [channel]) as subscription:
            assert hub.execute("s", Publish(channel, "hello")).affected == 1
            message = subscription.get(timeout=5)
        assert message is not None and message.data == "hello"


class TestConformanceWithPrefixAndTtl(RecordsSection):
    """Every uniform op again through the TTL code path (records expire only after a minute)."""

    backend = "redis"
    source_fields: ClassVar[dict[str, Any]] = {"options": {"prefix": "dbplex_conformance:", "ttl": 60}}
