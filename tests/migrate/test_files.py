"""Migration files: names, checksums over normalised text, SQL directives, Python modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbplex.migrate.loading import checksum, error_location
from dbplex.migrate.naming import parse_file_name, parse_ref, version_id, version_key
from tests.migrate.helpers import PY_REVERSIBLE, read, write

SQL = "CREATE TABLE teams (id int);\n-- dbplex:down\nDROP TABLE teams;\n"


@pytest.mark.parametrize(
    ("name", "kind", "id"),
    [
        ("V0001__create_teams.sql", "versioned", "V1"),
        ("V1.2__add_index.py", "versioned", "V1.2"),
        ("V2024_05_01__seasons.sql", "versioned", "V2024.5.1"),
        ("V1.0__same_as_one.sql", "versioned", "V1"),
        ("R__views.sql", "repeatable", "R__views"),
    ],
)
def test_file_names_give_kind_and_canonical_id(name: str, kind: str, id: str) -> None:
    parsed = parse_file_name(name)
    assert parsed is not None and parsed.kind == kind and parsed.id == id


@pytest.mark.parametrize("name", ["V1_create.sql", "v1__lower.sql", "V__x.sql", "R_views.sql", "V1__bad-dash.sql"])
def test_names_that_follow_neither_pattern_are_refused(name: str) -> None:
    assert parse_file_name(name) is None


def test_versions_compare_numerically() -> None:
    assert version_key("1.10") > version_key("1.9")
    assert version_key("0003") == version_key("3") and version_id("0003") == "V3"


def test_refs_name_a_source_and_a_migration() -> None:
    ref = parse_ref("docs:V0003", "pg")
    assert ref is not None and (ref.source, ref.id) == ("docs", "V3")
    assert str(parse_ref("V2", "pg")) == "pg:V2"
    assert str(parse_ref("cache:R__warm", None)) == "cache:R__warm"
    assert parse_ref("V2", None) is None and parse_ref("docs:latest", "pg") is None


def test_checksum_ignores_line_endings_and_bom(tmp_path: Path) -> None:
    lf = "CREATE TABLE t (id int);\n-- dbplex:down\nDROP TABLE t;\n"
    write(tmp_path / "a", {"pg/V1__t.sql": lf})
    write(tmp_path / "b", {"pg/V1__t.sql": b"\xef\xbb\xbf" + lf.replace("\n", "\r\n").encode()})
    write(tmp_path / "c", {"pg/V1__t.sql": lf.replace("\n", "\r").encode()})
    sums = {read(tmp_path / d).migrations["pg"][0].checksum for d in "abc"}
    assert sums == {checksum(lf)}


def test_checksum_changes_with_the_text(tmp_path: Path) -> None:
    write(tmp_path / "a", {"pg/V1__t.sql": SQL})
    write(tmp_path / "b", {"pg/V1__t.sql": SQL.replace("int", "bigint")})
    assert read(tmp_path / "a").migrations["pg"][0].checksum != read(tmp_path / "b").migrations["pg"][0].checksum


def test_python_checksum_is_over_the_module_source(tmp_path: Path) -> None:
    write(tmp_path, {"docs/V1__seed.py": PY_REVERSIBLE})
    assert read(tmp_path).migrations["docs"][0].checksum == checksum(PY_REVERSIBLE)


def test_sql_directives_and_down_section(tmp_path: Path) -> None:
    text = "-- dbplex: transaction=false lock_timeout=10s\n-- dbplex: depends_on=docs:V0002,cache:R__warm\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- dbplex:down\nDROP INDEX CONCURRENTLY i;\n"
    write(tmp_path, {"pg/V3__index.sql": text})
    found = read(tmp_path)
    assert found.problems == []
    migration = found.migrations["pg"][0]
    assert migration.options == {"transaction": False, "lock_timeout": "10s"}
    assert [str(r) for r in migration.depends_on] == ["docs:V2", "cache:R__warm"]
    assert isinstance(migration.up, str) and "CREATE INDEX CONCURRENTLY" in migration.up and "DROP" not in migration.up
    assert (
        isinstance(migration.down, str)
        and "DROP INDEX CONCURRENTLY i;" in migration.down
        and "CREATE" not in migration.down
    )


def test_python_module_gives_functions_and_options(tmp_path: Path) -> None:
    text = "depends_on = ['pg:V1']\ntransaction = False\n\ndef up(ctx):\n    ctx.note('up')\n\n\ndef down(ctx):\n    pass\n"
    write(tmp_path, {"pg/V2__data.py": text})
    migration = read(tmp_path).migrations["pg"][0]
    assert callable(migration.up) and callable(migration.down)
    assert migration.options == {"transaction": False} and [str(r) for r in migration.depends_on] == ["pg:V1"]


def test_reading_a_python_migration_runs_none_of_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = (
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('top level')\n"
        "depends_on: list = ['pg:V1']\n\ndef up(ctx):\n    pass\n\ndef down(ctx):\n    return 'reverted'\n"
    )
    write(tmp_path, {"pg/V2__data.py": text})
    migration = read(tmp_path).migrations["pg"][0]
    assert not marker.exists() and [str(r) for r in migration.depends_on] == ["pg:V1"]
    assert callable(migration.down) and migration.down(None) == "reverted"  # type: ignore[arg-type]
    assert marker.read_text() == "top level"


def test_an_error_at_a_python_migration_top_level_shows_when_it_runs(tmp_path: Path) -> None:
    write(tmp_path, {"docs/V1__x.py": "def up(ctx):\n    pass\nx = 1 / 0\n\ndef down(ctx):\n    pass\n"})
    found = read(tmp_path)
    assert found.problems == []
    up = found.migrations["docs"][0].up
    assert callable(up)
    with pytest.raises(ZeroDivisionError) as raised:
        up(None)  # type: ignore[arg-type]
    assert error_location(raised.value, found.migrations["docs"][0].path) == " (V1__x.py line 3)"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pg/V1_create.sql": SQL}, "pg/V1_create.sql: not a migration file name"),
        ({"pg/V1__create.sql": "CREATE TABLE t (id int);\n"}, "pg/V1__create.sql: no way back"),
        ({"docs/V1__seed.py": "def up(ctx):\n    pass\n"}, "docs/V1__seed.py: no way back"),
        ({"pg/V1__x.sql": "-- dbplex: trasaction=false\n" + SQL}, "pg/V1__x.sql:1: unknown option 'trasaction'"),
        ({"pg/V1__x.sql": "-- dbplex: irreversible\n" + SQL}, "has a down part and is marked irreversible"),
        ({"pg/V1__x.sql": "-- only a comment\n-- dbplex:down\nDROP TABLE t;\n"}, "pg/V1__x.sql: no SQL statement"),
        ({"pg/R__views.sql": SQL}, "pg/R__views.sql: a repeatable migration has no down part"),
        ({"docs/V1__x.sql": SQL}, "docs/V1__x.sql: the backend of source 'docs' runs .py migrations only"),
        (
            {"docs/V1__x.py": "import os\nirreversible = bool(os.environ)\ndef up(ctx):\n    pass\n"},
            "docs/V1__x.py:2: irreversible must be a literal value",
        ),
        ({"docs/V1__x.py": "up = 3\nirreversible = True\n"}, "docs/V1__x.py:1: `up` must be a function up(ctx)"),
        ({"docs/V1__x.py": "def up(ctx)\n    pass\n"}, "docs/V1__x.py:1: cannot load: SyntaxError"),
        ({"docs/V1__x.py": "irreversible = True\n"}, "docs/V1__x.py: defines no up(ctx) function"),
        (
            {"docs/V1__x.py": "depends_on = ['nowhere:latest']\n" + PY_REVERSIBLE},
            "depends_on entry 'nowhere:latest' is not a ref",
        ),
        ({"pg/V1__x.sql": b"CREATE TABLE \xff;\n"}, "pg/V1__x.sql: not UTF-8 text"),
        ({"ghost/V1__x.py": PY_REVERSIBLE}, "ghost/: no source named 'ghost' in the configuration"),
        ({"V1__x.sql": SQL}, "V1__x.sql: migration files go in a folder named after their source"),
    ],
)
def test_file_problems_name_the_file(tmp_path: Path, files: dict[str, str | bytes], expected: str) -> None:
    write(tmp_path, files)
    problems = read(tmp_path).problems
    assert len(problems) == 1 and expected in problems[0].replace(str(tmp_path) + "/", ""), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, {"pg/V1_bad.sql": SQL, "pg/V2__x.sql": "CREATE TABLE t (id int);\n", "docs/V1__x.sql": SQL})
    assert len(read(tmp_path).problems) == 3


def test_helpers_notes_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docs/_shared.py": "X = 1\n",
            "docs/README.md": "notes",
            "docs/__pycache__/V1__x.py": "",
            "docs/V1__x.py": PY_REVERSIBLE,
        },
    )
    found = read(tmp_path)
    assert found.problems == [] and [m.name for m in found.migrations["docs"]] == ["V1__x.py"]


def test_migrations_are_sorted_versions_first_then_repeatables(tmp_path: Path) -> None:
    files = {f"pg/V{v}__m{i}.sql": SQL for i, v in enumerate(["10", "2", "1.5"])}
    write(tmp_path, {**files, "pg/R__a_views.sql": "SELECT 1;\n"})
    assert [m.id for m in read(tmp_path).migrations["pg"]] == ["V1.5", "V2", "V10", "R__a_views"]
