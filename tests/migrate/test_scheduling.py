"""The scheduling reference schema: applied to all three databases, seeded, reverted, applied again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import pytest
import redis

import dbplex
from dbplex.migrate import Migrations

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "scheduling"
PG_TABLES = {
    "schedules",
    "games",
    "teams",
    "venues",
    "constraints",
    "metrics",
    "reports",
    "audit_logs",
    "users",
    "sessions",
    "permissions",
}
MONGO_COLLECTIONS = {
    "schedules_flexible",
    "analytics_data",
    "logs",
    "system_config",
    "user_preferences",
    "notion_sync",
    "calendar_events",
}
#: the keys the example's Redis migrations and seed write (not under the source's prefix).
REDIS_PATTERNS = (
    "keyspace:conventions",
    "cache:schedules:*",
    "cache:teams:*",
    "session:user:*",
    "session:api:*",
    "live:updates:*",
    "live:notifications:*",
)


@pytest.fixture
def redis_example(redis_source: dict[str, Any]) -> Any:
    """The Redis source, refusing a server that already holds the example's keys; they are deleted afterwards."""
    client = redis.Redis.from_url(redis_source["url"], decode_responses=True)
    if any(next(client.scan_iter(match=p, count=1000), None) for p in REDIS_PATTERNS):
        client.close()
        pytest.skip(
            "the Redis test server already holds keys of the scheduling example (keyspace:conventions, cache:*, ...)"
        )
    yield redis_source
    for pattern in REDIS_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()


@pytest.fixture
def config(tmp_path: Path, pg_url: str, mongo_url: str, redis_example: dict[str, Any]) -> Path:
    path = tmp_path / "dbplex.toml"
    prefix = redis_example["options"]["prefix"]
    path.write_text(
        f'[sources.pg]\nurl = "{pg_url}"\n[sources.mongo]\nurl = "{mongo_url}"\n'
        f'[sources.redis]\nurl = "{redis_example["url"]}"\noptions = {{prefix = "{prefix}"}}\n'
    )
    return path


def dbplex_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbplex.cli.main", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_the_reference_schema_applies_seeds_reverts_and_applies_again(
    config: Path, pg_url: str, mongo_url: str, redis_example: dict[str, Any]
) -> None:
    migrations_dir = str(EXAMPLE / "migrations")
    dry = dbplex_cli(config, "migrate", "plan", "--dry-run", "--dir", migrations_dir)
    assert dry.returncode == 0 and "CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_search_idx" in dry.stdout
    up = dbplex_cli(config, "migrate", "up", "--dir", migrations_dir)
    assert up.returncode == 0, up.stderr
    assert "applied 14 migrations" in up.stdout

    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        assert PG_TABLES | {"dbplex_schema_history"} == tables
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('reports_search_idx')"
        ).fetchone() == (True,)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url)
    db = client.get_default_database()
    assert set(db.list_collection_names()) >= MONGO_COLLECTIONS
    raw = redis.Redis.from_url(redis_example["url"], decode_responses=True)
    assert (
        raw.hget(
            "keyspace:conventions",
            "cache:teams:{team_id}",
        )
        == "3600 a team with its venue, JSON"
    )

    # games and audit_logs are partitioned (pg V0006), and logs and live:updates are written through
    # their specs: the partitions come before the rows, with no setting for the server at hand
    parts = dbplex_cli(config, "partition", "apply", "--spec", str(EXAMPLE / "partitions.toml"))
    assert parts.returncode == 0, parts.stdout + parts.stderr
    seed = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "seed.py"),
            "--config",
            str(config),
            "--teams",
            "6",
            "--users",
            "10",
            "--seasons",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seed.returncode == 0, seed.stderr
    assert "not written" not in seed.stderr and "logs (partitioned by day)" in seed.stdout
    assert dbplex_cli(config, "partition", "status", "--spec", str(EXAMPLE / "partitions.toml")).returncode == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM games").fetchone() == (2 * 6 * 5,)
        assert conn.execute(
            "SELECT count(*) FROM reports WHERE search @@ to_tsquery('english', 'schedule & review')"
        ).fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM standings").fetchone() == (6,)
    assert (
        db.calendar_events.count_documents({}) == 60
        and db.user_preferences.count_documents({"notifications.email": True}) == 5
    )
    assert raw.ttl("cache:teams:1") > 0 and raw.exists("live:notifications:1")
    again = subprocess.run(
        [sys.executable, str(EXAMPLE / "seed.py"), "--config", str(config)], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 1 and "pass --reset" in again.stderr

    down = dbplex_cli(config, "migrate", "down", "--dir", migrations_dir, "--to", "pg:V0002")
    assert down.returncode == 0, down.stderr
    with dbplex.open(str(config)) as hub, Migrations(hub, migrations_dir) as migrations:
        states = {m.ref: m.state for s in migrations.status().sources for m in s.migrations}
    assert states["pg:V2"] == "applied" and states["pg:V3"] == states["mongo:V4"] == "rolled_back"
    assert states["pg:R__views"] == "outdated" and states["redis:V2"] == "applied"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('games'), to_regclass('teams') IS NOT NULL").fetchone() == (None, True)

    again_up = dbplex_cli(config, "migrate", "up", "--dir", migrations_dir)
    assert again_up.returncode == 0 and "applied 7 migrations" in again_up.stdout, again_up.stderr
    assert dbplex_cli(config, "migrate", "validate", "--dir", migrations_dir).returncode == 0
    client.close()
    raw.close()
