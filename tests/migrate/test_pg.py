"""PostgreSQL migrations against a real server: transactions, autocommit steps, timeouts, locks."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.migrate.conftest import Project

TEAMS = "CREATE TABLE teams (id int PRIMARY KEY, name text NOT NULL);\n-- dbplex:down\nDROP TABLE teams;\n"
HANGS = """import os, pathlib, time

def up(ctx):
    ctx.execute("CREATE TABLE slow (id int)")
    marker = os.environ.get("DBPLEX_TEST_HANG")
    if marker:
        pathlib.Path(marker).write_text("started")
        time.sleep(300)


def down(ctx):
    ctx.execute("DROP TABLE slow")
"""


@pytest.fixture
def pg(project: Any, pg_url: str) -> Project:
    made: Project = project({"pg": {"url": pg_url}})
    return made


def tables(pg_url: str) -> set[str]:
    with psycopg.connect(pg_url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_up_applies_in_order_and_history_commits_with_each_step(pg: Project, pg_url: str) -> None:
    pg.write(
        {
            "pg/V0001__teams.sql": TEAMS,
            "pg/V0002__games.sql": "CREATE TABLE games (id int REFERENCES teams);\n-- dbplex:down\nDROP TABLE games;\n",
        }
    )
    result = pg.cli("up")
    assert result.exit_code == 0, result.output
    assert {"teams", "games", "dbplex_schema_history"} <= tables(pg_url)
    rows = pg.history("pg")
    assert [(r.version, r.action, r.status, r.kind) for r in rows] == [
        ("0001", "up", "success", "versioned"),
        ("0002", "up", "success", "versioned"),
    ]
    assert len({r.run_id for r in rows}) == 1 and all(r.checksum and len(r.checksum) == 64 for r in rows)
    assert all(r.finished_at and r.duration_ms is not None and "@" in r.installed_by for r in rows)
    assert pg.cli("up").output.startswith("nothing to do")


def test_a_step_failing_half_way_leaves_nothing_and_a_failed_row(pg: Project, pg_url: str) -> None:
    broken = "CREATE TABLE teams (id int);\nINSERT INTO teams VALUES (1);\nINSERT INTO nowhere VALUES (1);\n-- dbplex:down\nDROP TABLE teams;\n"
    pg.write({"pg/V0001__teams.sql": broken})
    result = pg.cli("up")
    assert result.exit_code == 1
    assert (
        "pg:V1 failed: source 'pg': relation \"nowhere\" does not exist (SQLSTATE 42P01) (at line 3)" in result.output
    )
    assert "teams" not in tables(pg_url)
    [row] = pg.history("pg")
    assert row.status == "failed" and 'relation "nowhere" does not exist' in (row.error or "")
    pg.write({"pg/V0001__teams.sql": broken.replace("nowhere", "teams")})  # a failed file may be fixed
    assert pg.cli("up").exit_code == 0
    assert [(r.status, r.action) for r in pg.history("pg")] == [("failed", "up"), ("success", "up")]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM teams").fetchone() == (2,)


def test_a_python_step_runs_inside_the_transaction(pg: Project, pg_url: str) -> None:
    pg.write(
        {
            "pg/V0001__data.py": 'def up(ctx):\n    ctx.execute("CREATE TABLE t (id int)")\n    ctx.conn.execute("INSERT INTO t VALUES (1)")\n    raise ValueError("no")\n\n\ndef down(ctx):\n    pass\n'
        }
    )
    result = pg.cli("up")
    assert result.exit_code == 1 and "pg:V1 failed: ValueError: no (V0001__data.py line 4)" in result.output
    assert "t" not in tables(pg_url)


def test_timeouts_have_defaults_that_a_file_overrides(pg: Project) -> None:
    probe = "def up(ctx):\n    ctx.note(repr(ctx.execute(\"SELECT current_setting('lock_timeout'), current_setting('statement_timeout')\")))\n\n\ndef down(ctx):\n    pass\n"
    pg.write(
        {"pg/V0001__probe.py": probe, "pg/V0002__probe.py": 'lock_timeout = "250ms"\nstatement_timeout = 0\n' + probe}
    )
    plan = pg.json("plan")["steps"]
    assert plan[0]["settings"] == {"lock_timeout": "5s", "statement_timeout": "10min"}
    assert plan[1]["settings"] == {"lock_timeout": "250ms", "statement_timeout": "0"}
    with pg.open() as migrations:
        migrations.up()
        connection = migrations.migrator("pg").connection
        # SET LOCAL ended with each step's transaction: the session is back to its defaults
        assert connection.execute("SHOW lock_timeout").fetchone() == ("0",)


def test_lock_timeout_stops_a_step_waiting_for_a_table_lock(pg: Project, pg_url: str) -> None:
    pg.write({"pg/V0001__teams.sql": TEAMS})
    assert pg.cli("up").exit_code == 0
    pg.write(
        {
            "pg/V0002__alter.sql": "-- dbplex: lock_timeout=200ms\nALTER TABLE teams ADD COLUMN city text;\n-- dbplex:down\nALTER TABLE teams DROP COLUMN city;\n"
        }
    )
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE teams IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        result = pg.cli("up")
    assert result.exit_code == 1 and "canceling statement due to lock timeout (SQLSTATE 55P03)" in result.output
    assert pg.history("pg")[-1].status == "failed"
    assert pg.cli("up").exit_code == 0


def test_concurrently_is_refused_inside_a_transaction_naming_the_file_and_line(pg: Project) -> None:
    pg.write(
        {
            "pg/V0001__teams.sql": TEAMS,
            "pg/V0002__index.sql": "-- an index\n\nCREATE INDEX CONCURRENTLY teams_name ON teams (name);\n-- dbplex:down\nDROP INDEX teams_name;\n",
        }
    )
    result = pg.cli("plan")
    assert result.exit_code == 2
    assert (
        "V0002__index.sql:3: CREATE INDEX CONCURRENTLY cannot run inside a transaction; add `-- dbplex: transaction=false`"
        in result.output
    )
    pg.write(
        {
            "pg/V0002__index.sql": "BEGIN;\nCREATE INDEX teams_name ON teams (name);\nCOMMIT;\n-- dbplex:down\nDROP INDEX teams_name;\n"
        }
    )
    assert "V0002__index.sql:1: BEGIN: dbplex runs each file's transaction" in pg.cli("up").output


def test_a_failed_concurrent_index_build_is_dropped_before_the_retry(pg: Project, pg_url: str) -> None:
    pg.write({"pg/V0001__teams.sql": TEAMS})
    assert pg.cli("up").exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO teams VALUES (1, 'Owls'), (2, 'Owls')")
    index = "-- dbplex: transaction=false\nCREATE UNIQUE INDEX CONCURRENTLY teams_name_key ON teams (name);\n-- dbplex:down\nDROP INDEX CONCURRENTLY teams_name_key;\n"
    pg.write({"pg/V0002__unique_name.sql": index})
    failed = pg.cli("up")
    assert failed.exit_code == 1 and "could not create unique index" in failed.output
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('teams_name_key')"
        ).fetchone() == (False,)
        conn.execute("UPDATE teams SET name = 'Larks' WHERE id = 2")
    plan = pg.json("plan", "--dry-run")["steps"][0]
    assert plan["mode"] == "autocommit" and any("INVALID" in note for note in plan["notes"])
    with pg.open() as migrations:
        report = migrations.up()
    assert [s.status for s in report.steps] == ["success"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('teams_name_key')"
        ).fetchone() == (True,)


def test_down_reverts_to_a_version_and_dry_run_changes_nothing(pg: Project, pg_url: str) -> None:
    pg.write(
        {
            "pg/V0001__teams.sql": TEAMS,
            "pg/V0002__venues.sql": "CREATE TABLE venues (id int);\n-- dbplex:down\nDROP TABLE venues;\n",
            "pg/V0003__cities.sql": "CREATE TABLE cities (id int);\n-- dbplex:down\nDROP TABLE cities;\n",
        }
    )
    dry = pg.cli("up", "--dry-run")
    assert (
        dry.exit_code == 0 and "CREATE TABLE venues (id int);" in dry.output and "pg_try_advisory_lock(" in dry.output
    )
    assert tables(pg_url) == set()  # not even the history table
    assert pg.cli("up").exit_code == 0
    down_plan = pg.json("down", "--to", "V0001", "--dry-run")
    assert [s["ref"] for s in down_plan["steps"]] == ["pg:V3", "pg:V2"] and "DROP TABLE cities;" in down_plan["steps"][
        0
    ]["commands"]
    assert {"teams", "venues", "cities"} <= tables(pg_url)
    result = pg.cli("down", "--to", "V0001")
    assert result.exit_code == 0, result.output
    assert tables(pg_url) == {"teams", "dbplex_schema_history"}
    assert [s["state"] for s in pg.json("status")["sources"][0]["migrations"]] == [
        "applied",
        "rolled_back",
        "rolled_back",
    ]
    assert pg.cli("up").exit_code == 0 and {"venues", "cities"} <= tables(pg_url)


def test_an_edited_applied_file_fails_validation_naming_it_until_repaired(pg: Project) -> None:
    pg.write({"pg/V0001__teams.sql": TEAMS})
    assert pg.cli("up").exit_code == 0
    pg.write({"pg/V0001__teams.sql": "-- a comment\n" + TEAMS})
    for command in ("validate", "up"):
        result = pg.cli(command)
        assert result.exit_code == 2 and "V0001__teams.sql changed after it was applied" in result.output
    repaired = pg.cli("repair", "--accept-checksum", "V0001")
    assert repaired.exit_code == 0 and "accepted the new checksum" in repaired.output
    assert pg.cli("validate").exit_code == 0
    assert [r.action for r in pg.history("pg")] == ["up", "repair"]


def test_a_killed_process_frees_the_advisory_lock_with_its_session(pg: Project, tmp_path: Path, pg_url: str) -> None:
    pg.write({"pg/V0001__teams.sql": TEAMS, "pg/V0002__slow.py": HANGS})
    marker = tmp_path / "started"
    child = pg.spawn("up", env={"DBPLEX_TEST_HANG": str(marker)})
    wait_for(marker)
    waiting = pg.spawn("up", "--lock-wait", "0.5")
    assert waiting.wait(60) == 1 and "the migration lock is held by dbplex migrate run" in waiting.communicate()[1]
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    result = pg.cli("up", "--lock-wait", "30")
    assert result.exit_code == 0, result.output
    rows = [r for r in pg.history("pg") if r.version == "0002"]
    assert [r.status for r in rows] == ["failed", "success"]
    assert (rows[0].error or "").startswith("interrupted: run ")
    assert "slow" in tables(pg_url)


def test_json_reports(pg: Project) -> None:
    pg.write(
        {
            "pg/V0001__teams.sql": TEAMS,
            "pg/R__view.sql": "CREATE OR REPLACE VIEW team_names AS SELECT name FROM teams;\n",
        }
    )
    report = pg.json("up")
    assert [(s["ref"], s["status"]) for s in report["steps"]] == [("pg:V1", "success"), ("pg:R__view", "success")]
    status = pg.json("status")["sources"][0]
    assert status["backend"] == "pg" and [m["state"] for m in status["migrations"]] == ["applied", "applied"]
    pg.write({"pg/R__view.sql": "CREATE OR REPLACE VIEW team_names AS SELECT name, id FROM teams;\n"})
    assert [m["state"] for m in pg.json("status")["sources"][0]["migrations"]] == ["applied", "outdated"]
    assert [(s["ref"], s["reason"]) for s in pg.json("plan")["steps"]] == [("pg:R__view", "changed")]
    assert json.loads(pg.cli("validate", "--json").stdout)["ok"] is True


def test_baseline_marks_an_existing_schema_as_applied(pg: Project, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE teams (id int PRIMARY KEY, name text NOT NULL)")
    pg.write(
        {
            "pg/V0001__teams.sql": TEAMS,
            "pg/V0002__venues.sql": "CREATE TABLE venues (id int);\n-- dbplex:down\nDROP TABLE venues;\n",
        }
    )
    result = pg.cli("baseline", "V0001")
    assert result.exit_code == 0 and "pg:V1: versions up to V1 count as applied" in result.output
    status = pg.json("status")["sources"][0]
    assert status["baseline"] == "V1" and [m["state"] for m in status["migrations"]] == ["baselined", "pending"]
    assert [s["ref"] for s in pg.json("up")["steps"]] == ["pg:V2"]
    again = pg.cli("baseline", "V0002")
    assert again.exit_code == 2 and "already has applied migrations" in again.output


def test_the_directory_defaults_to_the_configs_migrations_key(project: Any, pg_url: str, tmp_path: Path) -> None:
    made: Project = project({"pg": {"url": pg_url}})
    made.config.write_text(f'migrations = "db/changes"\n{made.config.read_text()}')
    result = made.cli("status")
    assert result.exit_code == 2 and f"{tmp_path}/db/changes: no such migrations directory" in result.output
    (tmp_path / "db" / "changes" / "pg").mkdir(parents=True)
    (tmp_path / "db" / "changes" / "pg" / "V0001__teams.sql").write_text(TEAMS)
    assert made.json("plan")["steps"][0]["file"] == f"{tmp_path}/db/changes/pg/V0001__teams.sql"


def test_down_says_when_there_is_nothing_to_revert_and_refuses_an_unknown_version(pg: Project) -> None:
    pg.write({"pg/V0001__teams.sql": TEAMS})
    nothing = pg.cli("down")
    assert (nothing.exit_code, nothing.output.strip()) == (0, "nothing to revert: no versioned migration is applied")
    assert pg.cli("up").exit_code == 0
    above = pg.cli("down", "--to", "pg:V1")
    assert (above.exit_code, above.output.strip()) == (0, "nothing to revert: no migration above pg:V1 is applied")
    unknown = pg.cli("down", "--to", "pg:V99")
    assert unknown.exit_code == 2 and "--to pg:V99: no such version in source 'pg'" in unknown.output
    assert [m["state"] for m in pg.json("status")["sources"][0]["migrations"]] == ["applied"]


def test_status_validate_and_plan_do_not_run_python_migrations(pg: Project, pg_url: str) -> None:
    marker = pg.root / "imported"
    pg.write(
        {
            "pg/V0001__data.py": f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n"
            'transaction = True\n\ndef up(ctx):\n    ctx.execute("CREATE TABLE t (id int)")\n\n\n'
            'def down(ctx):\n    ctx.execute("DROP TABLE t")\n',
            "pg/V0002__broken.py": "def up(ctx):\n    pass\nx = 1 / 0\n\ndef down(ctx):\n    pass\n",
        }
    )
    for command in ("status", "validate", "plan"):
        assert pg.cli(command).exit_code == 0, command
    assert not marker.exists()
    result = pg.cli("up")
    assert marker.exists() and "t" in tables(pg_url)
    assert result.exit_code == 1
    assert "pg:V2 failed: ZeroDivisionError: division by zero (V0002__broken.py line 3)" in result.output


def test_the_lock_lives_on_the_step_session_and_is_not_silently_retaken(pg: Project, pg_url: str) -> None:
    from dbplex.migrate import LockLost, LockSettings
    from dbplex.migrate.locking import this_process

    with pg.open() as migrations:
        migrator = migrations.migrator("pg")
        lock = migrator.lock(this_process(), LockSettings())
        assert lock.try_acquire()
        session = migrator.connection
        assert "the session that runs the steps" in lock.describe()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [session.info.backend_pid])
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
        assert not lock.extend()
        with pytest.raises(LockLost, match="source 'pg': the session holding the migration lock ended"):
            migrator.connection  # noqa: B018 - a new session would run steps without the lock
        lock.release()
        assert migrator.connection.execute("SELECT 1").fetchone() == (1,)  # released: it may reconnect
