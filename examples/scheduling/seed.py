"""Fill the scheduling example's three databases with realistic seasons.

    dbplex migrate up --dir examples/scheduling/migrations
    python examples/scheduling/seed.py [--config dbplex.toml] [--teams 16] [--seasons 1] [--users 40] [--seed 7] [--reset]

Teams, venues, users with sessions and permissions, and a double round-robin schedule per
season go to PostgreSQL; calendar events, analytics, logs, preferences, configuration and sync
state to MongoDB; caches, sessions and live feeds to Redis, with the TTLs registered in
``keyspace:conventions`` by the Redis migrations. The same ``--seed`` gives the same data.
Sources are named ``pg``, ``mongo`` and ``redis`` (as ``dbplex sandbox up`` names them);
``--pg``, ``--mongo`` and ``--redis`` pick others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

import dbplex

CITIES = [
    ("Kiel", "Harbour Owls"),
    ("Lyon", "Silk Larks"),
    ("Sapporo", "Snow Foxes"),
    ("Porto", "River Kings"),
    ("Leeds", "Loiners"),
    ("Gdańsk", "Amber Gulls"),
    ("Bilbao", "Iron Lions"),
    ("Turku", "Archers"),
    ("Graz", "Clockmakers"),
    ("Cork", "Rebels"),
    ("Malmö", "Bridgebuilders"),
    ("Ghent", "Weavers"),
    ("Brno", "Dragons"),
    ("Bergen", "Rainmakers"),
    ("Lecce", "Baroques"),
    ("Split", "Mariners"),
    ("Aarhus", "Vikings"),
    ("Tartu", "Scholars"),
    ("Nantes", "Elephants"),
    ("Basel", "Rhine Rats"),
]
DIVISIONS = ["North", "South", "East", "West"]
FIRST = [
    "Ada",
    "Bo",
    "Chiara",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Pia",
]
LAST = [
    "Achterberg",
    "Bianchi",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Horvat",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Laine",
]
KICKOFF_HOURS = (12, 15, 18, 21)
#: the example's partition specs (`dbplex partition apply --spec ...`).
PARTITIONS = Path(__file__).with_name("partitions.toml")
TTL_DEFAULTS = {
    "cache:schedules": 300,
    "cache:teams": 3600,
    "session:user": 86400,
    "session:api": 2592000,
    "live:updates": 21600,
    "live:notifications": 604800,
}


@dataclass
class Season:
    """Everything the seed writes, generated before anything is written."""

    users: list[dict[str, Any]] = field(default_factory=list)
    venues: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    games: list[dict[str, Any]] = field(default_factory=list)


def team_codes(count: int) -> list[str]:
    """Unique three-letter codes: the city's first letters, else its initial and two more."""
    codes: list[str] = []
    for i in range(count):
        city = CITIES[i % len(CITIES)][0].upper().replace("Ń", "N").replace("Ö", "O")
        candidates = [city[:3]] + [city[0] + chr(65 + n // 26) + chr(65 + n % 26) for n in range(26 * 26)]
        codes.append(next(c for c in candidates if c not in codes))
    return codes


def round_robin(team_ids: list[int]) -> list[list[tuple[int, int]]]:
    """A double round robin (circle method): every pair meets twice, home and away swapped."""
    slots: list[int | None] = [*team_ids, None] if len(team_ids) % 2 else list(team_ids)
    rounds = []
    for r in range(len(slots) - 1):
        pairs = []
        for i in range(len(slots) // 2):
            a, b = slots[i], slots[-1 - i]
            if a is not None and b is not None:
                pairs.append((a, b) if (r + i) % 2 == 0 else (b, a))
        rounds.append(pairs)
        slots = [slots[0], slots[-1], *slots[1:-1]]
    return rounds + [[(away, home) for home, away in pairs] for pairs in rounds]


def generate(teams: int, seasons: int, users: int, rng: random.Random, today: dt.date) -> Season:
    season = Season()
    for i in range(users):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        role = "admin" if i == 0 else "scheduler" if i < 3 else "team_manager" if i < 3 + teams else "viewer"
        season.users.append({"id": i + 1, "email": f"user{i + 1}@example.org", "name": name, "role": role})
    venue_count = max(2, teams * 3 // 4)
    for i in range(venue_count):
        city = CITIES[i % len(CITIES)][0]
        season.venues.append(
            {
                "id": i + 1,
                "name": f"{city} Arena {i // len(CITIES) + 1}",
                "city": city,
                "capacity": rng.randrange(4000, 60000, 500),
            }
        )
    for i, code in enumerate(team_codes(teams)):
        city, nickname = CITIES[i % len(CITIES)]
        manager = 4 + i if 4 + i <= users else None
        season.teams.append(
            {
                "id": i + 1,
                "code": code,
                "name": f"{city} {nickname}" + (f" {i // len(CITIES) + 1}" if i >= len(CITIES) else ""),
                "city": city,
                "venue_id": (i % venue_count) + 1,
                "division": DIVISIONS[i % len(DIVISIONS)],
                "manager_id": manager,
                "founded": rng.randint(1880, 2010),
            }
        )
    rounds = round_robin([t["id"] for t in season.teams])
    season_weeks = max(52, len(rounds) + 8)  # seasons never overlap
    latest_start = today - dt.timedelta(weeks=8)
    for s in range(seasons):
        start = latest_start - dt.timedelta(weeks=season_weeks * (seasons - 1 - s))
        start -= dt.timedelta(days=(start.weekday() - 5) % 7)  # a Saturday
        schedule_id = s + 1
        for r, pairs in enumerate(rounds, start=1):
            weekend = dt.datetime.combine(start + dt.timedelta(weeks=r - 1), dt.time(), dt.timezone.utc)
            hosted: dict[int, int] = {}  # games per venue this round: a shared venue hosts on the next day
            for g, (home, away) in enumerate(pairs):
                venue_id = season.teams[home - 1]["venue_id"]
                day = hosted[venue_id] = hosted.get(venue_id, -1) + 1
                starts = weekend + dt.timedelta(days=day, hours=KICKOFF_HOURS[g % len(KICKOFF_HOURS)])
                past = starts.date() < today
                game = {
                    "id": len(season.games) + 1,
                    "schedule_id": schedule_id,
                    "round": r,
                    "home": home,
                    "away": away,
                    "venue_id": venue_id,
                    "starts_at": starts,
                    "status": "final" if past else "scheduled",
                    "home_score": rng.randint(0, 5) if past else None,
                    "away_score": rng.randint(0, 4) if past else None,
                    "attendance": rng.randint(2000, season.venues[venue_id - 1]["capacity"]),
                }
                season.games.append(game)
        end = max(g["starts_at"] for g in season.games if g["schedule_id"] == schedule_id).date()
        season.schedules.append(
            {
                "id": schedule_id,
                "season": f"{start.year}/{(start.year + 1) % 100:02d}",
                "name": "Regular season",
                "starts_on": start,
                "ends_on": end,
                "rounds": len(rounds),
            }
        )
    upcoming = next((g for g in season.games if g["status"] == "scheduled"), None)
    if upcoming is not None:  # the next game is on: it feeds live:updates
        upcoming.update(status="live", home_score=rng.randint(0, 2), away_score=rng.randint(0, 2))
    return season


# -- PostgreSQL ----------------------------------------------------------------------------

PG_TABLES = "audit_logs, reports, metrics, constraints, games, schedules, teams, venues, permissions, sessions, users"


def seed_pg(conn: Any, data: Season, rng: random.Random, reset: bool) -> dict[str, int]:
    with conn.transaction():
        existing = conn.execute("SELECT count(*) FROM teams").fetchone()[0]
        if existing and not reset:
            sys.exit(f"pg already has {existing} teams; pass --reset to replace the example's data")
        conn.execute(f"TRUNCATE {PG_TABLES} RESTART IDENTITY CASCADE")
        cur = conn.cursor()
        cur.executemany(
            "INSERT INTO users (email, name, role, settings) VALUES (%s, %s, %s, %s)",
            [(u["email"], u["name"], u["role"], json.dumps({"locale": "en"})) for u in data.users],
        )
        sessions = [(str(uuid.UUID(int=rng.getrandbits(128))), u["id"]) for u in data.users if u["id"] % 3 == 0]
        cur.executemany(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES (%s, %s, now() + interval '1 day')", sessions
        )
        grants = [(u["id"], "schedule", "write", 0) for u in data.users if u["role"] in ("admin", "scheduler")]
        grants += [(t["manager_id"], "team", "write", t["id"]) for t in data.teams if t["manager_id"]]
        cur.executemany(
            "INSERT INTO permissions (user_id, resource, action, resource_id, granted_by) VALUES (%s, %s, %s, %s, 1)",
            grants,
        )
        cur.executemany(
            "INSERT INTO venues (name, city, capacity, location) VALUES (%s, %s, %s, %s)",
            [(v["name"], v["city"], v["capacity"], json.dumps({"city": v["city"]})) for v in data.venues],
        )
        cur.executemany(
            "INSERT INTO teams (code, name, city, home_venue_id, division, manager_id, profile) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    t["code"],
                    t["name"],
                    t["city"],
                    t["venue_id"],
                    t["division"],
                    t["manager_id"],
                    json.dumps({"founded": t["founded"]}),
                )
                for t in data.teams
            ],
        )
        cur.executemany(
            "INSERT INTO schedules (season, name, status, starts_on, ends_on, settings, created_by) VALUES (%s, %s, 'published', %s, %s, %s, 2)",
            [
                (
                    s["season"],
                    s["name"],
                    s["starts_on"],
                    s["ends_on"],
                    json.dumps({"format": "double round robin", "rounds": s["rounds"]}),
                )
                for s in data.schedules
            ],
        )
        cur.executemany(
            "INSERT INTO games (schedule_id, round, home_team_id, away_team_id, venue_id, starts_at, status, home_score, away_score, details) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    g["schedule_id"],
                    g["round"],
                    g["home"],
                    g["away"],
                    g["venue_id"],
                    g["starts_at"],
                    g["status"],
                    g["home_score"],
                    g["away_score"],
                    json.dumps({"attendance": g["attendance"]}),
                )
                for g in data.games
            ],
        )
        constraints = []
        for s in data.schedules:
            constraints.append((s["id"], "rest_days", None, json.dumps({"min_days": 2}), True, 1.0))
            constraints.append((s["id"], "max_away_streak", None, json.dumps({"max": 3}), False, 0.5))
            constraints += [
                (
                    s["id"],
                    "venue_blackout",
                    t["id"],
                    json.dumps({"dates": [str(s["starts_on"] + dt.timedelta(days=14))]}),
                    True,
                    1.0,
                )
                for t in data.teams[:2]
            ]
        cur.executemany(
            "INSERT INTO constraints (schedule_id, kind, team_id, params, hard, weight) VALUES (%s, %s, %s, %s, %s, %s)",
            constraints,
        )
        finals = [g for g in data.games if g["status"] == "final"]
        cur.executemany(
            "INSERT INTO metrics (schedule_id, name, value, labels, measured_at) VALUES (%s, 'attendance', %s, %s, %s)",
            [(g["schedule_id"], g["attendance"], json.dumps({"game_id": g["id"]}), g["starts_at"]) for g in finals],
        )
        cur.executemany(
            "INSERT INTO reports (schedule_id, title, body, author_id) VALUES (%s, %s, %s, 2)",
            [
                (
                    s["id"],
                    f"Season {s['season']} schedule review",
                    f"{s['rounds']} rounds, derby weekends balanced, travel minimised for {len(data.teams)} teams.",
                )
                for s in data.schedules
            ],
        )
        cur.executemany(
            "INSERT INTO audit_logs (user_id, action, entity, entity_id, changes) VALUES (2, 'publish', 'schedule', %s, %s)",
            [(s["id"], json.dumps({"status": ["draft", "published"]})) for s in data.schedules],
        )
    return {
        "users": len(data.users),
        "sessions": len(sessions),
        "permissions": len(grants),
        "venues": len(data.venues),
        "teams": len(data.teams),
        "schedules": len(data.schedules),
        "games": len(data.games),
        "constraints": len(constraints),
        "metrics": len(finals),
    }


# -- MongoDB -------------------------------------------------------------------------------

MONGO_COLLECTIONS = (
    "schedules_flexible",
    "analytics_data",
    "system_config",
    "user_preferences",
    "notion_sync",
    "calendar_events",
)


def seed_mongo(db: Any, data: Season, rng: random.Random, reset: bool) -> dict[str, int]:
    if db["calendar_events"].estimated_document_count() and not reset:
        sys.exit("mongo already has calendar events; pass --reset to replace the example's data")
    for name in MONGO_COLLECTIONS:
        db[name].delete_many({})
    now = dt.datetime.now(dt.timezone.utc)
    teams = {t["id"]: t for t in data.teams}
    venues = {v["id"]: v for v in data.venues}
    docs: dict[str, list[dict[str, Any]]] = {
        "calendar_events": [
            {
                "game_id": g["id"],
                "schedule_id": g["schedule_id"],
                "title": f"{teams[g['home']]['name']} vs {teams[g['away']]['name']}",
                "starts_at": g["starts_at"],
                "ends_at": g["starts_at"] + dt.timedelta(hours=2),
                "venue": {"name": venues[g["venue_id"]]["name"], "city": venues[g["venue_id"]]["city"]},
                "team_ids": [g["home"], g["away"]],
            }
            for g in data.games
        ],
        "analytics_data": [
            {
                "metric": "attendance",
                "at": g["starts_at"],
                "value": g["attendance"],
                "team_id": g["home"],
                "dims": {"game_id": g["id"], "round": g["round"]},
            }
            for g in data.games
            if g["status"] == "final"
        ],
        "system_config": [
            {"_id": "scheduler.max_games_per_day", "value": 4, "updated_at": now},
            {"_id": "scheduler.kickoff_hours", "value": list(KICKOFF_HOURS), "updated_at": now},
            {"_id": "notifications.enabled", "value": True, "updated_at": now},
        ],
        "user_preferences": [
            {
                "user_id": u["id"],
                "timezone": "Europe/Berlin",
                "favourite_teams": rng.sample([t["id"] for t in data.teams], k=min(2, len(data.teams))),
                "notifications": {"email": u["id"] % 2 == 0, "push": True},
            }
            for u in data.users
        ],
        "notion_sync": [
            {
                "notion_page_id": f"page-{s['id']:04d}",
                "entity": "schedule",
                "entity_id": s["id"],
                "status": "synced",
                "last_synced_at": now,
                "error": None,
            }
            for s in data.schedules
        ],
        "schedules_flexible": [
            {
                "schedule_key": f"season-{s['season']}",
                "season": s["season"],
                "version": 1,
                "created_at": now,
                "generator": {"method": "circle", "seed": rng.randint(0, 10**6)},
                "rounds": [{"round": r} for r in range(1, s["rounds"] + 1)],
            }
            for s in data.schedules
        ],
    }
    for name, batch in docs.items():
        if batch:
            db[name].insert_many(batch, ordered=False)
    return {name: len(batch) for name, batch in docs.items()}


# -- Redis ---------------------------------------------------------------------------------


def ttls(client: Any) -> dict[str, int]:
    """TTL per key family from `keyspace:conventions` (written by the Redis migrations)."""
    registered = client.hgetall("keyspace:conventions")
    found = dict(TTL_DEFAULTS)
    for pattern, value in registered.items():
        family = pattern.decode().rsplit(":", 1)[0]
        found[family] = int(value.split()[0])
    return found


def day_bucket(family: str, key: str) -> bool:
    """Whether ``key`` is one of `dbplex partition`'s: a day bucket of live:updates
    (live:updates:2026-11-25) or its registry; the seed neither counts nor removes them."""
    return family == "live:updates" and not key.rsplit(":", 1)[-1].isdigit()


def seed_redis(client: Any, data: Season, rng: random.Random, reset: bool) -> dict[str, int]:
    families = [f for f in TTL_DEFAULTS if f != "live:notifications"] + ["live:notifications"]
    existing = [
        k for f in families for k in client.scan_iter(match=f"{f}:*", count=1000) if not day_bucket(f, k.decode())
    ]
    if existing and not reset:
        sys.exit(f"redis already has {len(existing)} example keys; pass --reset to replace them")
    for start in range(0, len(existing), 500):
        client.unlink(*existing[start : start + 500])
    ttl = ttls(client)
    counts = dict.fromkeys(TTL_DEFAULTS, 0)
    pipe = client.pipeline(transaction=False)
    for team in data.teams:
        pipe.set(
            f"cache:teams:{team['id']}",
            json.dumps({k: team[k] for k in ("id", "code", "name", "city", "division")}),
            ex=ttl["cache:teams"],
        )
        counts["cache:teams"] += 1
    for schedule in data.schedules:
        games = [
            {
                "id": g["id"],
                "round": g["round"],
                "home": g["home"],
                "away": g["away"],
                "starts_at": g["starts_at"].isoformat(),
            }
            for g in data.games
            if g["schedule_id"] == schedule["id"]
        ]
        pipe.set(
            f"cache:schedules:{schedule['id']}",
            json.dumps({"season": schedule["season"], "games": games}),
            ex=ttl["cache:schedules"],
        )
        counts["cache:schedules"] += 1
    for user in data.users:
        if user["id"] % 3 == 0:
            key = f"session:user:{uuid.UUID(int=rng.getrandbits(128))}"
            pipe.hset(key, mapping={"user_id": user["id"], "role": user["role"]})
            pipe.expire(key, ttl["session:user"])
            counts["session:user"] += 1
        if user["role"] == "admin":
            key = f"session:api:key-{user['id']}"
            pipe.hset(key, mapping={"user_id": user["id"], "requests": 0})
            pipe.expire(key, ttl["session:api"])
            counts["session:api"] += 1
        pipe.lpush(
            f"live:notifications:{user['id']}",
            json.dumps({"kind": "schedule_published", "schedule_id": data.schedules[-1]["id"]}),
        )
        pipe.expire(f"live:notifications:{user['id']}", ttl["live:notifications"])
        counts["live:notifications"] += 1
    for game in (g for g in data.games if g["status"] == "live"):
        key = f"live:updates:{game['id']}"
        pipe.xadd(key, {"home_score": game["home_score"], "away_score": game["away_score"], "status": "live"})
        pipe.expire(key, ttl["live:updates"])
        counts["live:updates"] += 1
    pipe.execute()
    return counts


def write_logs(hub: Any, data: Season, source: str, rng: random.Random) -> int | None:
    """Application logs, through the partition spec `logs` of partitions.toml (a time-series
    collection, or a collection per day); None (with a note) when `dbplex partition apply` has not
    prepared them."""
    from dbplex.config import load_partitions

    spec = msgspec.structs.replace(load_partitions(PARTITIONS)["logs"], source=source)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = [
        {
            "level": rng.choice(["info", "info", "warning"]),
            "message": f"schedule {s['id']} published",
            "at": now - dt.timedelta(minutes=i),
            "context": {"schedule_id": s["id"]},
        }
        for i, s in enumerate(data.schedules)
    ]
    try:
        return int(hub.partitioned(spec).insert(rows))
    except dbplex.DbplexError as exc:
        print(f"note: logs not written: {exc}", file=sys.stderr)
        return None


def write_live_updates(hub: Any, data: Season, source: str, rng: random.Random) -> int | None:
    """Score changes of the live game in today's live:updates day bucket, through the partition
    spec `live_updates` of partitions.toml; None (with a note) when `dbplex partition apply` has
    not made the buckets."""
    from dbplex.config import load_partitions

    spec = msgspec.structs.replace(load_partitions(PARTITIONS)["live_updates"], source=source)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = [
        {
            "at": now - dt.timedelta(minutes=7 * minute),
            "game_id": game["id"],
            "home_score": rng.randint(0, game["home_score"] or 0),
            "away_score": rng.randint(0, game["away_score"] or 0),
            "status": "live",
        }
        for game in data.games
        if game["status"] == "live"
        for minute in range(3)
    ]
    try:
        return int(hub.partitioned(spec).insert(rows))
    except dbplex.DbplexError as exc:
        print(f"note: live updates not written to day buckets: {exc}", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", help="configuration file (default: $DBPLEX_CONFIG or ./dbplex.toml)")
    parser.add_argument("--teams", type=int, default=16, help="teams in the league (2-200, default 16)")
    parser.add_argument("--seasons", type=int, default=1, help="seasons, each a double round robin (default 1)")
    parser.add_argument("--users", type=int, default=40, help="users (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same data")
    parser.add_argument("--reset", action="store_true", help="replace the example's data if there is some")
    for backend in ("pg", "mongo", "redis"):
        parser.add_argument(
            f"--{backend}",
            default=backend,
            metavar="SOURCE",
            help=f"the {backend} source's name (default {backend}; '' skips it)",
        )
    args = parser.parse_args()
    if not 2 <= args.teams <= 200 or args.seasons < 1 or args.users < 1:
        parser.error("--teams must be 2-200, --seasons and --users at least 1")
    rng = random.Random(args.seed)
    data = generate(args.teams, args.seasons, args.users, rng, dt.date.today())
    table = Table("source", "what", "count", title="seeded")
    with dbplex.open(args.config) as hub:
        writers = ((args.pg, seed_pg), (args.mongo, seed_mongo), (args.redis, seed_redis))
        for source, write in writers:
            if not source:
                continue
            with hub.connection(source) as conn:
                for what, count in write(conn, data, random.Random(args.seed), args.reset).items():
                    table.add_row(source, what, str(count))
        if args.mongo and args.mongo in hub.sources:
            written = write_logs(hub, data, args.mongo, random.Random(args.seed))
            if written is not None:
                table.add_row(args.mongo, "logs (partitioned by day)", str(written))
        if args.redis and args.redis in hub.sources:
            written = write_live_updates(hub, data, args.redis, random.Random(args.seed))
            if written is not None:
                table.add_row(args.redis, "live:updates day buckets", str(written))
    Console().print(table)


if __name__ == "__main__":
    main()
