"""``dbplex analyze`` on PostgreSQL finds planted problems, and only them, in the test's schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

import dbplex
from dbplex.analyze import Finding
from dbplex.cli.main import cli
from tests.analyze.conftest import Project, flush

#: findings about the server rather than a schema: a clean schema may still show these.
SERVER_WIDE = {"pg.pg_stat_statements_missing", "pg.top_statement"}


@pytest.fixture
def findings(pg_base: str, schema: str) -> Iterator[Any]:
    """``findings()``: what the analyzer finds in the test's schema (min_rows 100)."""
    with dbplex.open(
        {"sources": {"pg": {"url": pg_base}}, "analyze": {"pg": {"schemas": [schema], "min_rows": 100}}}
    ) as hub:

        def found() -> list[Finding]:
            return hub.analyzer("pg").findings(hub.config.analyze["pg"])

        yield found


def by_code(found: list[Finding]) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for finding in found:
        codes.setdefault(finding.code, []).append(finding.subject)
    return codes


def test_a_clean_schema_raises_no_finding(db: psycopg.Connection[Any], schema: str, findings: Any) -> None:
    db.execute("CREATE TABLE team (id int PRIMARY KEY, name text UNIQUE)")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, team_id int NOT NULL REFERENCES team)")
    db.execute("CREATE INDEX game_team_idx ON game (team_id)")
    db.execute("INSERT INTO team SELECT g, 'team ' || g FROM generate_series(1, 50) g")
    db.execute("INSERT INTO game SELECT g, 1 + g % 50 FROM generate_series(1, 500) g")
    db.execute("SET enable_seqscan = off")
    db.execute("SELECT count(*) FROM game WHERE team_id = 3").fetchone()  # the FK index is used
    flush(db)
    assert [f for f in findings() if f.code not in SERVER_WIDE] == []


def test_planted_problems_are_found_with_their_subjects(
    db: psycopg.Connection[Any], schema: str, findings: Any
) -> None:
    db.execute("CREATE TABLE team (id int PRIMARY KEY)")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, team_id int REFERENCES team, venue text, day date)")
    db.execute("CREATE INDEX venue_a ON game (venue)")  # never used
    db.execute("CREATE INDEX venue_b ON game (venue)")  # the same index again
    db.execute("CREATE INDEX day_idx ON game (day)")  # led by day_venue_idx
    db.execute("CREATE INDEX day_venue_idx ON game (day, venue)")
    db.execute("INSERT INTO team SELECT generate_series(1, 20)")
    db.execute(
        "INSERT INTO game SELECT g, 1 + g % 20, 'v' || g, date '2026-01-01' + g % 300 FROM generate_series(1, 500) g"
    )
    db.execute("SET enable_indexscan = off")
    db.execute("SET enable_bitmapscan = off")
    for _ in range(12):
        db.execute("SELECT count(*) FROM game WHERE venue = 'v7'").fetchone()
    flush(db)

    first = findings()
    found = by_code(first)

    # reading the statistics counts no scan of its own
    [scans] = [f.evidence["seq_scan"] for f in first if f.code == "pg.sequential_scans"]
    assert [f.evidence["seq_scan"] for f in findings() if f.code == "pg.sequential_scans"] == [scans]
    assert found["pg.unused_index"] == [
        f"{schema}.day_idx",
        f"{schema}.day_venue_idx",
        f"{schema}.venue_a",
        f"{schema}.venue_b",
    ]
    assert found["pg.duplicate_index"] == [f"{schema}.venue_b"]
    assert found["pg.redundant_index"] == [f"{schema}.day_idx"]
    assert found["pg.unindexed_foreign_key"] == [f"{schema}.game"]
    assert found["pg.sequential_scans"] == [f"{schema}.game"]
    assert "pg.table_bloat" not in found


def test_the_unindexed_foreign_key_proposes_an_index_and_a_migration(
    db: psycopg.Connection[Any], schema: str, findings: Any, pg_base: str
) -> None:
    db.execute("CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b))")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, a int, b int, FOREIGN KEY (b, a) REFERENCES pair (b, a))")
    db.execute("CREATE INDEX game_a ON game (a)")  # leads with one of the two columns only: no cover

    [finding] = [f for f in findings() if f.code == "pg.unindexed_foreign_key"]

    assert finding.index is not None
    assert (finding.index.table, finding.index.columns) == (f"{schema}.game", ("b", "a"))
    assert finding.evidence["columns"] == ["b", "a"]
    with dbplex.open({"sources": {"pg": {"url": pg_base}}}) as hub:
        migration = hub.analyzer("pg").index_migration(finding.index)
    assert migration.suffix == "sql"
    assert migration.text.startswith("-- dbplex: transaction=false\n")
    assert f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "game_b_a_idx" ON {schema}.game ("b", "a");' in migration.text
    assert f'-- dbplex:down\nDROP INDEX CONCURRENTLY IF EXISTS {schema}."game_b_a_idx";' in migration.text


def test_an_index_leading_with_the_key_columns_in_any_order_covers_the_foreign_key(
    db: psycopg.Connection[Any], findings: Any
) -> None:
    db.execute("CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b))")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, a int, b int, c int, FOREIGN KEY (a, b) REFERENCES pair)")
    db.execute("CREATE INDEX game_bac ON game (b, a, c)")
    assert "pg.unindexed_foreign_key" not in by_code(findings())


def test_a_low_cache_hit_ratio_is_found_with_the_figures_pg_statio_reports(
    db: psycopg.Connection[Any], schema: str, findings: Any
) -> None:
    # A table larger than a quarter of shared_buffers is written and read through a small ring
    # of buffers (bulk write, then sequential scans), so its blocks are read, not found, each time.
    setting = db.execute("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'").fetchone()
    assert setting is not None
    buffers = int(setting[0])
    if buffers > 512 * 1024 * 1024:
        pytest.skip(f"shared_buffers is {buffers >> 20} MB: the table to outgrow it would take too long to write")
    rows = buffers // 4 * 3 // 2 // 150  # ~150 bytes a row: 1.5 times a quarter of shared_buffers
    db.execute("CREATE TABLE big AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, %s) g", [rows])
    for _ in range(2):
        db.execute("SELECT count(*) FROM big").fetchone()
    flush(db)

    [finding] = [f for f in findings() if f.code == "pg.cache_hit_ratio"]

    hit, read = db.execute(
        "SELECT sum(heap_blks_hit), sum(heap_blks_read) FROM pg_statio_user_tables WHERE schemaname = %s", [schema]
    ).fetchone()  # type: ignore[misc]
    hit, read = int(hit), int(read)
    assert (finding.evidence["blocks_hit"], finding.evidence["blocks_read"]) == (hit, read)
    assert finding.evidence["ratio"] == round(hit / (hit + read), 4) < 0.99
    assert finding.subject == f"schemas {schema}"


def test_dead_rows_are_a_bloat_finding(db: psycopg.Connection[Any], schema: str, findings: Any) -> None:
    db.execute("CREATE TABLE churn (id int PRIMARY KEY) WITH (autovacuum_enabled = false)")
    db.execute("INSERT INTO churn SELECT generate_series(1, 1000)")
    db.execute("DELETE FROM churn WHERE id % 2 = 0")
    flush(db)

    [finding] = [f for f in findings() if f.code == "pg.table_bloat"]

    assert finding.subject == f"{schema}.churn"
    assert (finding.evidence["n_dead_tup"], finding.evidence["n_live_tup"]) == (500, 500)


def test_top_statements_or_how_to_enable_them(db: psycopg.Connection[Any], findings: Any) -> None:
    row = db.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone()
    usable = row is not None
    if row is not None:
        try:
            db.execute(f"SELECT count(*) FROM {row[0]}.pg_stat_statements").fetchone()
        except psycopg.errors.ObjectNotInPrerequisiteState:  # created, not preloaded
            usable = False
    codes = by_code(findings())
    if usable:
        assert "pg.top_statement" in codes and "pg.pg_stat_statements_missing" not in codes
    else:
        assert codes["pg.pg_stat_statements_missing"] == ["pg_stat_statements"]


def test_hypopg_estimates_the_gain_of_a_proposed_index(db: psycopg.Connection[Any], findings: Any) -> None:
    try:
        db.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    except psycopg.Error as exc:
        pytest.skip(
            f"hypopg is not installed on this server ({exc.diag.message_primary}); Debian: postgresql-NN-hypopg"
        )
    db.execute("CREATE TABLE team (id int PRIMARY KEY)")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, team_id int REFERENCES team)")
    db.execute("INSERT INTO team SELECT generate_series(1, 100)")
    db.execute("INSERT INTO game SELECT g, 1 + g % 100 FROM generate_series(1, 20000) g")
    db.execute("ANALYZE game")
    flush(db)

    [finding] = [f for f in findings() if f.code == "pg.unindexed_foreign_key"]

    assert finding.evidence["cost_after"] < finding.evidence["cost_before"]
    # the hypothetical index is gone afterwards: a second run plans the lookup without it again
    [again] = [f for f in findings() if f.code == "pg.unindexed_foreign_key"]
    assert again.evidence["cost_before"] == finding.evidence["cost_before"]
    assert "pg.hypopg_missing" not in by_code(findings())


def test_without_hypopg_the_advice_says_how_to_get_estimates(db: psycopg.Connection[Any], findings: Any) -> None:
    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone() is not None:
        pytest.skip("hypopg is created in this database (another test did): the estimate test covers it")
    db.execute("CREATE TABLE team (id int PRIMARY KEY)")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, team_id int REFERENCES team)")
    codes = by_code(findings())
    assert codes["pg.hypopg_missing"] == ["hypopg"]


def test_written_migrations_apply_with_migrate_up_and_the_finding_goes(
    db: psycopg.Connection[Any], schema: str, project: Project
) -> None:
    db.execute("CREATE TABLE team (id int PRIMARY KEY)")
    db.execute("CREATE TABLE game (id int PRIMARY KEY, team_id int REFERENCES team)")
    folder = project.migrations / "pg"
    folder.mkdir(parents=True)
    (folder / "V0007__start.sql").write_text("CREATE TABLE venue (id int);\n-- dbplex:down\nDROP TABLE venue;\n")

    data = project.analyze("--write-migrations", str(project.migrations))

    written = folder / f"V0008__index_{schema}_game_team_id_idx.sql"
    assert data["written"] == [str(written)]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in written.read_text()
    again = project.analyze("--write-migrations", str(project.migrations))  # before it is applied
    assert (again["written"], again["already_written"]) == ([], [str(written)])

    result = project.cli("migrate", "up", "--dir", str(project.migrations))
    assert result.exit_code == 0, result.output
    assert db.execute(
        "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = 'game_team_id_idx'", [schema]
    ).fetchone()

    codes = {f["code"] for s in project.analyze()["sources"] for f in s["findings"]}
    assert "pg.unindexed_foreign_key" not in codes
    result = project.cli("migrate", "down", "--dir", str(project.migrations), "--to", "V0007")
    assert result.exit_code == 0, result.output
    assert (
        db.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = 'game_team_id_idx'", [schema]
        ).fetchone()
        is None
    )


def test_fail_on_exits_1_at_or_above_the_level_and_severity_filters(
    db: psycopg.Connection[Any], project: Project
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("CREATE INDEX t_v ON t (v)")  # unused: a warning
    assert project.cli("analyze").exit_code == 0
    assert project.cli("analyze", "--fail-on", "warning").exit_code == 1
    assert project.cli("analyze", "--fail-on", "critical").exit_code == 0
    data = project.analyze("--severity", "warning")
    [pg] = data["sources"]
    assert pg["status"] == "analyzed" and {f["severity"] for f in pg["findings"]} == {"warning"}
    text = project.cli("analyze").stdout
    assert "pg (pg): " in text and "pg.unused_index" in text


def test_a_source_that_cannot_be_analysed_is_reported_and_exits_2_after_the_others(
    tmp_path: Path, pg_base: str, schema: str, free_port: int
) -> None:
    config = tmp_path / "dbplex.toml"
    config.write_text(
        f'[sources.down]\nurl = "postgresql://postgres@127.0.0.1:{free_port}/x"\nconnect_timeout = 2\n'
        f"[sources.pg]\nurl = {json.dumps(pg_base)}\n"
        f'[analyze.pg]\nschemas = ["{schema}", "no_such_schema"]\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "analyze", "--json"])
    assert result.exit_code == 2, result.output
    down, pg = json.loads(result.stdout)["sources"]
    assert (down["status"], pg["status"]) == ("failed", "failed")
    assert f"127.0.0.1:{free_port}" in down["error"]
    assert "`analyze.pg.schemas` names ['no_such_schema']" in pg["error"]
