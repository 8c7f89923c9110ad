"""Redis migrations against a real server: the history hash, the token lock, failures and kills."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.migrate.conftest import Project
from tests.migrate.test_pg import wait_for


@pytest.fixture
def rds(project: Any, redis_source: dict[str, Any]) -> Project:
    made: Project = project({"redis": redis_source})
    return made


@pytest.fixture
def prefix(redis_source: dict[str, Any]) -> str:
    return str(redis_source["options"]["prefix"])


@pytest.fixture
def raw(redis_source: dict[str, Any]) -> Any:
    client = redis.Redis.from_url(redis_source["url"], decode_responses=True)
    yield client
    client.close()


def setting(prefix: str, field: str, value: str) -> str:
    """A migration that sets one field of the hash ``<prefix>settings``."""
    return f'def up(ctx):\n    ctx.execute(("HSET", "{prefix}settings", "{field}", "{value}"))\n\n\ndef down(ctx):\n    ctx.execute(("HDEL", "{prefix}settings", "{field}"))\n'


def test_history_is_a_hash_of_json_rows_under_the_prefix(rds: Project, prefix: str, raw: Any) -> None:
    rds.write(
        {"redis/V0001__ttl.py": setting(prefix, "ttl", "60"), "redis/V0002__size.py": setting(prefix, "size", "10")}
    )
    dry = rds.json("up", "--dry-run")
    assert dry["steps"][0]["commands"][1] == f"HSET {prefix}settings ttl 60"
    assert f"SET {prefix}dbplex_schema_lock <run token> NX PX 15000" in dry["locks"]["redis"]
    assert raw.exists(f"{prefix}settings", f"{prefix}dbplex_schema_history") == 0
    assert rds.cli("up").exit_code == 0
    assert raw.hgetall(f"{prefix}settings") == {"ttl": "60", "size": "10"}
    rows = {int(k): json.loads(v) for k, v in raw.hgetall(f"{prefix}dbplex_schema_history").items()}
    assert [(rows[r]["version"], rows[r]["status"]) for r in sorted(rows)] == [("0001", "success"), ("0002", "success")]
    assert not raw.exists(f"{prefix}dbplex_schema_lock")
    assert rds.cli("down").exit_code == 0 and raw.hgetall(f"{prefix}settings") == {"ttl": "60"}


def test_a_step_failing_half_way_is_recorded_and_the_next_up_continues_after_a_fix(
    rds: Project, prefix: str, raw: Any
) -> None:
    broken = f'def up(ctx):\n    ctx.execute(("SET", "{prefix}a", "1"))\n    ctx.execute(("LPUSH", "{prefix}a", "x"))\n\n\ndef down(ctx):\n    pass\n'
    rds.write({"redis/V0001__two.py": broken})
    result = rds.cli("up")
    assert result.exit_code == 1
    assert (
        "redis:V1 failed: source 'redis': running LPUSH: WRONGTYPE" in result.output
        and "(V0001__two.py line 3)" in result.output
    )
    [row] = rds.history("redis")
    assert row.status == "failed" and (row.error or "").startswith("source 'redis': running LPUSH: WRONGTYPE")
    assert raw.get(f"{prefix}a") == "1"  # the first command stays applied: Redis has no transaction here
    assert not raw.exists(f"{prefix}dbplex_schema_lock")
    rds.write({"redis/V0001__two.py": broken.replace('"LPUSH", "' + prefix + 'a"', '"LPUSH", "' + prefix + 'b"')})
    assert rds.cli("up").exit_code == 0
    assert [r.status for r in rds.history("redis")] == ["failed", "success"] and raw.lrange(f"{prefix}b", 0, -1) == [
        "x"
    ]


def test_a_killed_holder_loses_the_key_when_it_expires(rds: Project, prefix: str, tmp_path: Path, raw: Any) -> None:
    hangs = 'import os, pathlib, time\n\ndef up(ctx):\n    pathlib.Path(os.environ["DBPLEX_TEST_HANG"]).write_text("x")\n    time.sleep(300)\n\n\ndef down(ctx):\n    pass\n'
    rds.write({"redis/V0001__slow.py": hangs})
    marker = tmp_path / "started"
    child = rds.spawn("up", "--lock-ttl", "2", env={"DBPLEX_TEST_HANG": str(marker)})
    wait_for(marker)
    assert "pid" in raw.get(f"{prefix}dbplex_schema_lock")
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    rds.write({"redis/V0001__slow.py": setting(prefix, "ttl", "60")})
    result = rds.cli("up", "--lock-wait", "30")
    assert result.exit_code == 0, result.output
    rows = rds.history("redis")
    assert [r.status for r in rows] == ["failed", "success"] and (rows[0].error or "").startswith("interrupted: run ")


def test_only_the_token_holder_extends_or_releases(rds: Project, prefix: str, raw: Any) -> None:
    from dbplex.migrate import LockSettings
    from dbplex.migrate.locking import this_process

    with rds.open() as migrations:
        migrator = migrations.migrator("redis")
        first = migrator.lock(this_process(), LockSettings(ttl=30))
        second = migrator.lock(this_process(), LockSettings(ttl=30))
        assert first.try_acquire() and not second.try_acquire()
        assert "expires in" in (second.holder() or "")
        assert not second.extend()
        second.release()
        assert raw.exists(f"{prefix}dbplex_schema_lock")
        raw.pexpire(f"{prefix}dbplex_schema_lock", 1000)
        assert first.extend() and raw.pttl(f"{prefix}dbplex_schema_lock") > 5000
        first.release()
        assert not raw.exists(f"{prefix}dbplex_schema_lock")


def test_a_lost_lease_stops_the_run_after_the_current_step(rds: Project, prefix: str, raw: Any) -> None:
    steal = f'import time\n\ndef up(ctx):\n    ctx.execute(("SET", "{prefix}dbplex_schema_lock", "another run"))\n    time.sleep(1.5)\n\n\ndef down(ctx):\n    pass\n'
    rds.write({"redis/V0001__steal.py": steal, "redis/V0002__next.py": setting(prefix, "x", "1")})
    result = rds.cli("up", "--lock-ttl", "1")
    assert result.exit_code == 1 and "the migration lock was lost" in result.output
    assert [(r.version, r.status) for r in rds.history("redis")] == [("0001", "success")]  # the step it ran is recorded
    assert raw.get(f"{prefix}dbplex_schema_lock") == "another run"  # not ours any more, so not released
