"""Mirrors whose copy nests the records in lists: a cached schedule holding its games.

The scheduling example caches each schedule under ``cache:schedules:<id>`` as JSON with its games
in a list; the ``nested`` mirror checks those games against PostgreSQL's ``games`` row by row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import dbplex
from dbplex.check import engine
from dbplex.config import from_dict
from dbplex.errors import ConfigError

GAMES = 60
PER_SCHEDULE = 12


@pytest.fixture
def schedules(dbplex_servers: Any) -> Iterator[tuple[dict[str, Any], str, str]]:
    """A games table and a key family caching its games by schedule, consistent; the config and both names."""
    name = f"nst_{uuid.uuid4().hex[:10]}"
    table, family = f"{name}_games", f"{name}:schedules:*"
    config = {"sources": {"pg": {"url": dbplex_servers.url("pg")}, "cache": {"url": dbplex_servers.url("redis")}}}
    with dbplex.open(config) as hub:
        with hub.connection("pg") as conn:
            conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, schedule_id bigint, round int, home bigint)")
            conn.execute(
                f"INSERT INTO {table} SELECT i, (i - 1) / {PER_SCHEDULE}, 1 + i % 5, 100 + i % 7 "
                f"FROM generate_series(1, {GAMES}) i"
            )
            rows = conn.execute(f"SELECT id, schedule_id, round, home FROM {table} ORDER BY id").fetchall()
            conn.commit()
        with hub.connection("cache") as client:
            by_schedule: dict[int, list[dict[str, Any]]] = {}
            for game, schedule, round_, home in rows:
                by_schedule.setdefault(schedule, []).append({"id": game, "round": round_, "home": home})
            for schedule, games in by_schedule.items():
                if schedule % 2:  # a JSON string, as the example caches it
                    client.set(f"{family[:-1]}{schedule}", json.dumps({"season": 2026, "games": games}))
                else:  # a hash whose field holds the list as JSON text
                    client.hset(f"{family[:-1]}{schedule}", mapping={"season": 2026, "games": json.dumps(games)})
        try:
            yield config, table, family
        finally:
            with hub.connection("pg") as conn:
                conn.execute(f"DROP TABLE {table}")
                conn.commit()
            with hub.connection("cache") as client:
                client.delete(*client.scan_iter(match=family))


def mirror(config: dict[str, Any], table: str, family: str) -> Any:
    rule = {
        "kind": "mirror",
        "source": f"pg.{table}",
        "target": f"cache.{family}",
        "nested": "games",
        "target_key": "id",
        "fields": {"round": "round", "home": "home"},
    }
    checked = from_dict({**config, "checks": {"schedule_games": rule}})
    with dbplex.open(checked) as hub:
        (result,) = engine.run(hub, checked.checks, sample=100).checks
    return result


def test_a_consistent_cache_passes_having_read_every_nested_game(schedules: tuple[dict[str, Any], str, str]) -> None:
    config, table, family = schedules
    result = mirror(config, table, family)
    assert (result.status, result.method) == ("pass", "nested")
    assert result.rows == {f"pg.{table}": GAMES, f"cache.{family}": GAMES}


def test_missing_extra_and_changed_nested_games_are_found_exactly(
    schedules: tuple[dict[str, Any], str, str],
) -> None:
    config, table, family = schedules
    with dbplex.open(config) as hub, hub.connection("cache") as client:
        odd = f"{family[:-1]}1"  # games 13..24, a JSON string
        cached = json.loads(client.get(odd))
        cached["games"] = [g for g in cached["games"] if g["id"] != 14]  # game 14 no longer cached
        cached["games"][0]["round"] = 99  # game 13 cached with another round
        cached["games"].append({"id": 500, "round": 1, "home": 100})  # a game that does not exist
        client.set(odd, json.dumps(cached))
        even = f"{family[:-1]}2"  # games 25..36, a hash
        games = json.loads(client.hget(even, "games"))
        games[-1]["home"] = 1  # game 36 with another home team
        client.hset(even, "games", json.dumps(games))
    result = mirror(config, table, family)
    assert result.status == "fail"
    assert (result.missing.sample, result.extra.sample, result.different.sample) == (["14"], ["500"], ["13", "36"])


def test_a_nested_mirror_needs_the_nested_records_key(schedules: tuple[dict[str, Any], str, str]) -> None:
    config, table, family = schedules
    rule = {"kind": "mirror", "source": f"pg.{table}", "target": f"cache.{family}", "nested": "games"}
    with pytest.raises(ConfigError, match="`nested` needs `target_key`"):
        from_dict({**config, "checks": {"schedule_games": rule}})
