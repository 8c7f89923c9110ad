"""Several sources at once: one order across them, planner errors, and racing processes."""

from __future__ import annotations

import collections
from typing import Any

import psycopg
import pymongo
import pytest
import redis

from tests.migrate.conftest import Project

TEAMS = "CREATE TABLE teams (id int PRIMARY KEY);\n-- dbplex:down\nDROP TABLE teams;\n"


@pytest.fixture
def three(project: Any, pg_url: str, mongo_url: str, redis_source: dict[str, Any]) -> Project:
    made: Project = project({"pg": {"url": pg_url}, "mongo": {"url": mongo_url}, "redis": redis_source})
    return made


def counted(source: str, ref: str, prefix: str, depends: str = "") -> str:
    """A Python migration whose effect shows how often it ran (never idempotent on purpose)."""
    bodies = {
        "pg": f"ctx.execute(\"INSERT INTO applied VALUES ('{ref}')\")",
        "mongo": f'ctx.conn.applied.insert_one({{"ref": "{ref}"}})',
        "redis": f'ctx.execute(("INCR", "{prefix}applied:{ref}"))',
    }
    return f"import time\n{depends}\n\ndef up(ctx):\n    time.sleep(0.2)\n    {bodies[source]}\n\n\ndef down(ctx):\n    pass\n"


def test_eight_processes_started_together_apply_every_migration_exactly_once(
    three: Project, pg_url: str, mongo_url: str, redis_source: dict[str, Any]
) -> None:
    prefix = redis_source["options"]["prefix"]
    files = {
        "pg/V0001__applied.sql": "CREATE TABLE applied (ref text);\n-- dbplex:down\nDROP TABLE applied;\n",
        "pg/R__view.sql": "CREATE OR REPLACE VIEW applied_refs AS SELECT ref FROM applied;\n",
    }
    for source in ("pg", "mongo", "redis"):
        for version in (2, 3):
            ref = f"{source}:V{version}"
            depends = 'depends_on = ["pg:V0002"]' if source != "pg" and version == 2 else ""
            files[f"{source}/V000{version}__step.py"] = counted(source, ref, prefix, depends)
    three.write(files)
    racers = [three.spawn("up", "--lock-wait", "120") for _ in range(8)]
    outcomes = [(racer.wait(180), racer.communicate()) for racer in racers]
    assert all(code == 0 for code, _ in outcomes), [err for code, (_, err) in outcomes if code]
    for source, expected in (("pg", {"V1", "V2", "V3", "R__view"}), ("mongo", {"V2", "V3"}), ("redis", {"V2", "V3"})):
        rows = three.history(source)
        applied = collections.Counter(r.id for r in rows if r.action == "up" and r.status == "success")
        assert applied == dict.fromkeys(expected, 1), (source, [(r.id, r.status, r.run_id[:8]) for r in rows])
        assert all(r.status == "success" for r in rows)
    with psycopg.connect(pg_url) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT ref FROM applied")) == ["pg:V2", "pg:V3"]
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url)
    assert sorted(d["ref"] for d in client.get_default_database().applied.find()) == ["mongo:V2", "mongo:V3"]
    client.close()
    raw = redis.Redis.from_url(redis_source["url"], decode_responses=True)
    assert [raw.get(f"{prefix}applied:redis:V{v}") for v in (2, 3)] == ["1", "1"]
    raw.close()


def test_depends_on_orders_steps_across_sources(three: Project, pg_url: str) -> None:
    copy = 'depends_on = ["pg:V0001"]\n\ndef up(ctx):\n    with ctx.connection("pg") as pg:\n        n = pg.execute("SELECT count(*) FROM teams").fetchone()[0]\n    ctx.conn.stats.insert_one({"_id": "teams", "n": n})\n\n\ndef down(ctx):\n    ctx.execute({"drop": "stats"})\n'
    three.write(
        {
            "mongo/V0001__stats.py": copy,
            "pg/V0001__teams.sql": TEAMS.replace(";\n--", ";\nINSERT INTO teams VALUES (1), (2);\n--", 1),
        }
    )
    plan = three.json("plan")
    assert [s["ref"] for s in plan["steps"]] == ["pg:V1", "mongo:V1"]
    commands = three.json("plan", "--dry-run")["steps"][1]["commands"]
    assert any("uses ctx.connection('pg')" in c for c in commands)
    assert three.cli("up").exit_code == 0
    with three.open() as migrations:
        assert migrations.migrator("mongo").connection.stats.find_one() == {"_id": "teams", "n": 2}
    result = three.cli("down", "--to", "pg:V0", "--source", "pg")
    assert (
        result.exit_code == 2
        and "mongo/V0001__stats.py depends on what is reverted but is not selected; add --source mongo" in result.output
    )
    assert [s["ref"] for s in three.json("down", "--to", "pg:V0", "--dry-run")["steps"]] == ["mongo:V1", "pg:V1"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"pg/V0001__a.sql": TEAMS, "pg/V1__b.sql": TEAMS},
            ["source 'pg': duplicate version V1:", "pg/V0001__a.sql and ", "pg/V1__b.sql"],
        ),
        (
            {"pg/V0001__a.sql": "-- dbplex: depends_on=mongo:V0009\n" + TEAMS},
            ["pg/V0001__a.sql: depends_on 'mongo:V9', but there are no migrations for source 'mongo'"],
        ),
        (
            {
                "pg/V0001__a.sql": "-- dbplex: depends_on=redis:V0001\n" + TEAMS,
                "redis/V0001__b.py": 'depends_on = ["pg:V0001"]\n\ndef up(ctx):\n    pass\n\n\ndef down(ctx):\n    pass\n',
            },
            ["dependency cycle: ", "pg/V0001__a.sql -> ", "redis/V0001__b.py -> "],
        ),
        (
            {"ghost/V0001__a.py": "def up(ctx):\n    pass\n"},
            ["ghost/: no source named 'ghost' in the configuration (configured: mongo, pg, redis)"],
        ),
    ],
)
def test_plan_fails_naming_the_files(three: Project, files: dict[str, str], expected: list[str]) -> None:
    three.write(files)
    for command in ("plan", "up", "validate"):
        result = three.cli(command)
        assert result.exit_code == 2, result.output
        assert all(part in result.output for part in expected), result.output


def test_two_heads_are_named_once_a_later_version_is_applied(three: Project) -> None:
    three.write(
        {"pg/V0001__a.sql": TEAMS, "pg/V0003__c.sql": "CREATE TABLE c (id int);\n-- dbplex:down\nDROP TABLE c;\n"}
    )
    assert three.cli("up").exit_code == 0
    three.write({"pg/V0002__b.sql": "CREATE TABLE b (id int);\n-- dbplex:down\nDROP TABLE b;\n"})
    for command in ("plan", "up", "validate"):
        result = three.cli(command)
        assert result.exit_code == 2
        assert "two heads: " in result.output and "pg/V0002__b.sql is not applied, but the later " in result.output
        assert "pg/V0003__c.sql already is; give it a version above V3" in result.output
    assert three.cli("down", "--source", "pg").exit_code == 0  # reverting the later one also resolves it
    assert [s["ref"] for s in three.json("up")["steps"]] == ["pg:V2", "pg:V3"]


def test_missing_file_of_an_applied_version_is_named(three: Project) -> None:
    three.write({"pg/V0001__a.sql": TEAMS})
    assert three.cli("up").exit_code == 0
    three.remove("pg/V0001__a.sql")
    three.write({"pg/V0002__b.sql": "CREATE TABLE b (id int);\n-- dbplex:down\nDROP TABLE b;\n"})
    result = three.cli("up")
    assert (
        result.exit_code == 2 and "source 'pg': V0001__a.sql (V1) is applied but its file is missing" in result.output
    )
    assert [m["state"] for m in three.json("status", "--source", "pg")["sources"][0]["migrations"]] == [
        "pending",
        "missing",
    ]


def test_source_limits_the_run_to_those_sources_when_other_folders_are_not_configured(
    project: Any, pg_url: str, redis_source: dict[str, Any]
) -> None:
    two = project({"pg": {"url": pg_url}, "redis": redis_source})
    two.write({"pg/V0001__a.sql": TEAMS, "mongo/V0001__b.py": "def up(ctx):\n    pass\n"})
    for command in ("plan", "validate", "status"):
        result = two.cli(command, "--source", "pg")
        assert result.exit_code == 0, result.output
    result = two.cli("up", "--source", "pg", "--source", "redis")
    assert result.exit_code == 0, result.output
    assert [row["state"] for row in two.json("status", "--source", "pg")["sources"][0]["migrations"]] == ["applied"]
    result = two.cli("up")  # without --source the stray folder is still named
    assert result.exit_code == 2 and "mongo/: no source named 'mongo' in the configuration" in result.output
