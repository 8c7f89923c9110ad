"""A planted dataset over PostgreSQL, MongoDB and Redis, in tables, a collection and a key family
of the test's own, removed afterwards.

``games`` (5000 rows, PostgreSQL) is mirrored by ``events`` (MongoDB) and references ``venues``
(PostgreSQL, 10 rows), which a Redis key family ``<name>:venues:*`` mirrors. What is planted, and
so what every check must find exactly, is in :data:`PLANTED`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import dbplex

GAMES = 5000
VENUES = 10
#: what the dirty dataset plants, by check.
PLANTED = {
    "orphan_venues": [17, 444],  # games.venue_id pointing at no venue
    "missing_score": [3, 4000],  # games.score NULL
    "bad_status": [8],  # games.status outside the value set
    "dup_slot": [1, 9],  # games.slot shared (game 9 takes game 1's slot)
    "events_missing": [5, 1500, 2999],  # games with no event
    "events_extra": [6000],  # an event of no game (also the events -> games orphan)
    "events_different": [100, 2000],  # events whose status differs from their game's
    "events_no_score": [300, 301],  # an event without its score field, one whose score is null
    "cache_missing": [3],  # venue with no cache key
    "cache_extra": [77],  # cache key of no venue (also the cache -> venues orphan), named as venue 7
    "cache_different": [8],  # cache key with another name
    "cache_no_name": [5],  # cache key without a name (so also different from its venue)
}


@dataclass
class Dataset:
    """Where the planted data is, and the configuration reading it."""

    name: str
    config: dict[str, Any]
    #: the first game's start; the last starts an hour before the dataset was made, so the
    #: games are fresh within a day (the microseconds check that checksums agree on millisecond
    #: precision, all a BSON date keeps).
    start: dt.datetime

    @property
    def games(self) -> str:
        return f"{self.name}_games"

    @property
    def venues(self) -> str:
        return f"{self.name}_venues"

    @property
    def events(self) -> str:
        return f"{self.name}_events"

    @property
    def family(self) -> str:
        return f"{self.name}:venues:*"


def rules(data: Dataset) -> dict[str, dict[str, Any]]:
    """One rule of every kind over the dataset."""
    games, venues, events, family = data.games, data.venues, data.events, data.family
    return {
        "game_venue": {"kind": "reference", "from": f"pg.{games}.venue_id", "to": f"pg.{venues}.id"},
        "event_game": {"kind": "reference", "from": f"docs.{events}.game_id", "to": f"pg.{games}.id"},
        "cache_venue": {"kind": "reference", "from": f"cache.{family}", "to": f"pg.{venues}.id"},
        "game_score": {"kind": "missing", "target": f"pg.{games}", "fields": ["score"]},
        "event_score": {"kind": "missing", "target": f"docs.{events}", "key": "game_id", "fields": ["score"]},
        "game_status": {
            "kind": "invalid",
            "target": f"pg.{games}",
            "field": "status",
            "values": ["scheduled", "final"],
        },
        "event_status": {
            "kind": "invalid",
            "target": f"docs.{events}",
            "key": "game_id",
            "field": "status",
            "regex": "scheduled|final",
        },
        "cache_no_name": {"kind": "missing", "target": f"cache.{family}", "fields": ["name", "city"]},
        "cache_dup": {"kind": "duplicate", "target": f"cache.{family}", "fields": ["name"]},
        "cache_name": {"kind": "invalid", "target": f"cache.{family}", "field": "name", "regex": "V[0-9]+"},
        "game_slot": {"kind": "duplicate", "target": f"pg.{games}", "fields": ["slot"]},
        "event_slot": {"kind": "duplicate", "target": f"docs.{events}", "key": "game_id", "fields": ["slot"]},
        "event_slot_status": {
            "kind": "duplicate",
            "target": f"docs.{events}",
            "key": "game_id",
            "fields": ["slot", "status"],
        },
        "game_fresh": {"kind": "freshness", "target": f"pg.{games}", "field": "starts_at", "within": "1 day"},
        "event_fresh": {"kind": "freshness", "target": f"docs.{events}", "field": "starts_at", "within": "1 day"},
        "venue_count": {"kind": "row_count", "target": f"pg.{venues}", "min": 1, "max": 100},
        "cache_count": {"kind": "row_count", "target": f"cache.{family}", "min": 1, "max": 10},
        "events_mirror": {
            "kind": "mirror",
            "source": f"pg.{games}",
            "target": f"docs.{events}",
            "target_key": "game_id",
            "fields": {"venue_id": "venue_id", "starts_at": "starts_at", "status": "status"},
        },
        "cache_mirror": {
            "kind": "mirror",
            "source": f"pg.{venues}",
            "target": f"cache.{family}",
            "fields": {"name": "name"},
        },
    }


def plant(hub: dbplex.Hub, data: Dataset, dirty: bool) -> None:
    """Write the dataset: consistent everywhere, or (``dirty``) with :data:`PLANTED`'s problems."""
    pick = PLANTED if dirty else {name: [] for name in PLANTED}
    with hub.connection("pg") as conn:
        conn.execute(f"CREATE TABLE {data.venues} (id bigint PRIMARY KEY, name text)")
        conn.execute(
            f"CREATE TABLE {data.games} (id bigint PRIMARY KEY, venue_id bigint, starts_at timestamptz, "
            "status text, score integer, slot integer)"
        )
        conn.execute(f"INSERT INTO {data.venues} SELECT i, 'V' || i FROM generate_series(1, {VENUES}) i")
        conn.execute(
            f"INSERT INTO {data.games} SELECT i, 1 + i %% {VENUES}, %s + i * interval '1 minute', 'scheduled', 1, i "
            f"FROM generate_series(1, {GAMES}) i",
            (data.start,),
        )
        conn.execute(f"UPDATE {data.games} SET venue_id = 99 WHERE id = ANY(%s)", (pick["orphan_venues"],))
        conn.execute(f"UPDATE {data.games} SET score = NULL WHERE id = ANY(%s)", (pick["missing_score"],))
        conn.execute(f"UPDATE {data.games} SET status = 'bogus' WHERE id = ANY(%s)", (pick["bad_status"],))
        for game in pick["dup_slot"][1:]:
            conn.execute(f"UPDATE {data.games} SET slot = %s WHERE id = %s", (pick["dup_slot"][0], game))
        conn.commit()
        rows = conn.execute(
            f"SELECT id, venue_id, starts_at, status, score, slot FROM {data.games} ORDER BY id"
        ).fetchall()
    documents = []
    for game_id, venue_id, starts_at, status, score, slot in rows:
        if game_id in pick["events_missing"]:
            continue
        document = {"game_id": game_id, "venue_id": venue_id, "starts_at": starts_at, "status": status, "slot": slot}
        if game_id not in pick["events_no_score"][:1]:
            document["score"] = None if game_id in pick["events_no_score"] else score
        if game_id in pick["events_different"]:
            document["status"] = "final"
        documents.append(document)
    for game_id in pick["events_extra"]:
        documents.append(
            {"game_id": game_id, "venue_id": 1, "starts_at": data.start, "status": "final", "score": 1, "slot": game_id}
        )
    with hub.connection("docs") as db:
        db[data.events].insert_many(documents)
    with hub.connection("cache") as client:
        prefix = data.family[:-1]
        for venue in range(1, VENUES + 1):
            if venue in pick["cache_missing"]:
                continue
            fields = {"name": "X" if venue in pick["cache_different"] else f"V{venue}", "city": "C"}
            if venue in pick["cache_no_name"]:
                del fields["name"]
            if venue % 2:  # hashes and JSON strings alike
                client.hset(f"{prefix}{venue}", mapping=fields)
            else:
                client.set(f"{prefix}{venue}", json.dumps(fields))
        for venue in pick["cache_extra"]:
            client.hset(f"{prefix}{venue}", mapping={"name": f"V{venue // 10}", "city": "C"})


def remove(hub: dbplex.Hub, data: Dataset) -> None:
    with hub.connection("pg") as conn:
        conn.execute(f"DROP TABLE IF EXISTS {data.games}, {data.venues}")
        conn.commit()
    with hub.connection("docs") as db:
        db[data.events].drop()
    with hub.connection("cache") as client:
        keys = list(client.scan_iter(match=data.family))
        if keys:
            client.delete(*keys)


def _dataset(servers: Any, dirty: bool) -> Iterator[Dataset]:
    name = f"chk_{uuid.uuid4().hex[:10]}"
    sources = {
        "pg": {"url": servers.url("pg")},
        "docs": {"url": servers.url("mongo")},
        "cache": {"url": servers.url("redis")},
    }
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=123456)
    data = Dataset(name, {"sources": sources}, now - dt.timedelta(minutes=GAMES + 60))
    data.config["checks"] = rules(data)
    hub = dbplex.open(data.config)
    try:
        plant(hub, data, dirty)
        yield data
    finally:
        remove(hub, data)
        hub.close()


@pytest.fixture
def dirty(dbplex_servers: Any) -> Iterator[Dataset]:
    """The dataset with every :data:`PLANTED` problem."""
    yield from _dataset(dbplex_servers, dirty=True)


@pytest.fixture
def clean(dbplex_servers: Any) -> Iterator[Dataset]:
    """The same dataset without any problem."""
    yield from _dataset(dbplex_servers, dirty=False)
