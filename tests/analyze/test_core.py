"""The core of ``dbplex analyze``: the command's errors, sources without an analyzer, how
proposed migrations are numbered and written (all or none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import dbplex
from dbplex.analyze import MigrationFile, writing
from dbplex.cli.main import cli
from dbplex.errors import ConfigError, DbplexError
from dbplex.migrate.naming import next_version


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dbplex.toml"
    path.write_text(f'[sources.db]\nurl = "sqlite:///{tmp_path}/app.db"\n{text}')
    return path


def test_a_source_without_an_analyzer_is_listed_not_an_error(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    result = CliRunner().invoke(cli, ["--config", str(config), "analyze"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "db (sqlite): no analyzer\n"
    result = CliRunner().invoke(cli, ["--config", str(config), "analyze", "--json", "--fail-on", "info"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "sources": [{"source": "db", "backend": "sqlite", "status": "no analyzer", "error": None, "findings": []}],
        "written": [],
        "already_written": [],
    }


def test_an_unknown_source_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, "")), "analyze", "db", "nope"])
    assert result.exit_code == 2
    assert result.output == "Error: unknown source 'nope' (configured: db)\n"  # stdout and stderr


def test_an_analyze_table_must_name_a_configured_source(tmp_path: Path) -> None:
    config = _config(tmp_path, "[analyze.dbb]\nmin_rows = 5\n")
    with pytest.raises(ConfigError, match=r"`\[analyze.dbb\]` names no configured source \(db\)"):
        dbplex.open(str(config))
    result = CliRunner().invoke(cli, ["--config", str(config), "analyze"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "analyze.dbb" in result.output


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([], "0001"),
        (["0003", "2"], "0004"),
        (["1.9", "1.10"], "1.11"),
        (["2024_05_01"], "2024_05_02"),
        (["0099"], "0100"),
    ],
)
def test_the_next_version_follows_the_highest_in_its_style(versions: list[str], expected: str) -> None:
    assert next_version(versions) == expected


def _file(description: str) -> MigrationFile:
    return MigrationFile(suffix="sql", description=description, text=f"-- {description}\n")


def test_migrations_are_numbered_after_the_folder_and_an_index_already_proposed_is_kept(tmp_path: Path) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "V0002__base.sql").write_text("")
    (tmp_path / "pg" / "V0003__index_a.sql").write_text("")
    (tmp_path / "pg" / "R__views.sql").write_text("")
    (tmp_path / "pg" / "notes.md").write_text("")

    planned = writing.plan(
        tmp_path, {"pg": [_file("index_a"), _file("index_b"), _file("index_c")], "other": [_file("x")]}
    )
    written = writing.write(planned)

    assert written == [
        tmp_path / "pg" / "V0004__index_b.sql",
        tmp_path / "pg" / "V0005__index_c.sql",
        tmp_path / "other" / "V0001__x.sql",
    ]
    assert [p.existing for p in planned if p.existing is not None] == [tmp_path / "pg" / "V0003__index_a.sql"]
    assert (tmp_path / "pg" / "V0005__index_c.sql").read_text() == "-- index_c\n"


def test_writing_is_all_or_none(tmp_path: Path) -> None:
    planned = writing.plan(tmp_path, {"pg": [_file("index_a"), _file("index_b")]})
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "V0002__index_b.sql").write_text("another run's")  # appears between plan and write

    with pytest.raises(DbplexError, match=r"V0002__index_b.sql: already exists; nothing was written"):
        writing.write(planned)

    assert sorted(p.name for p in (tmp_path / "pg").iterdir()) == ["V0002__index_b.sql"]
    assert (tmp_path / "pg" / "V0002__index_b.sql").read_text() == "another run's"


def test_a_migration_name_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DbplexError, match=r"not a migration file name"):
        writing.plan(tmp_path, {"pg": [_file("index-a")]})
