"""``dbplex schema diff`` against real servers: planted differences found exactly, identical
shapes clean, migrations that apply and align, bad arguments refused in one line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dbplex.schema import infer
from tests.schema.conftest import Places, found

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
GAMES = "id bigint PRIMARY KEY, name text NOT NULL, score integer, starts_at timestamptz, played boolean"


def _events(count: int, **changes: Any) -> list[dict[str, Any]]:
    """Documents shaped like GAMES' rows, with ``changes`` (a value, or None to leave a field out)."""
    documents = []
    for i in range(count):
        document: dict[str, Any] = {"id": i, "name": f"g{i}", "score": i, "starts_at": NOW, "played": i % 2 == 0}
        for key, value in changes.items():
            if value is None:
                document.pop(key, None)
            else:
                document[key] = value
        documents.append(document)
    return documents


def test_planted_missing_extra_and_retyped_fields_are_reported_exactly(places: Places) -> None:
    games = places.table("games", GAMES + ", venue date")
    events = places.collection("events", _events(30, score="high", notes=["x"]))
    code, report = places.diff(f"pg.{games}", f"docs.{events}")
    assert code == 1
    assert found(report) == {("missing", "venue"), ("type", "score"), ("extra", "notes")}
    score = next(d for d in report["differences"] if d["field"] == "score")
    assert (score["a"]["type"], score["a"]["source_type"]) == ("integer", "integer")
    assert score["b"]["type"] == "string"
    assert report["b"]["sampled"] == 30
    assert report["migration"]["suffix"] == "py"


def test_identical_shapes_have_no_difference_and_exit_0(places: Places) -> None:
    games = places.table("games", GAMES)
    events = places.collection("events", _events(10))
    result = places.cli("schema", "diff", f"pg.{games}", f"docs.{events}")
    assert result.exit_code == 0, result.output
    assert f"0 differences between pg.{games} and docs.{events}" in result.output
    code, report = places.diff(f"pg.{games}", f"docs.{events}")
    assert (code, report["differences"], report["migration"]) == (0, [], None)


def test_a_wider_type_on_b_is_no_difference_but_a_narrower_one_is(places: Places) -> None:
    narrow = places.table("narrow", "id bigint PRIMARY KEY, amount integer, day date")
    wide = places.table("wide", "id bigint PRIMARY KEY, amount numeric, day timestamptz")
    assert places.diff(f"pg.{narrow}", f"pg.{wide}")[0] == 0
    code, report = places.diff(f"pg.{wide}", f"pg.{narrow}")
    assert (code, found(report)) == (1, {("type", "amount"), ("type", "day")})


def test_renamed_fields_are_compared_under_their_other_name(places: Places) -> None:
    games = places.table("games", GAMES)
    events = places.collection("events", _events(5, name=None, title="t"))
    code, report = places.diff(f"pg.{games}", f"docs.{events}")
    assert found(report) == {("missing", "name"), ("extra", "title")}
    code, report = places.diff(f"pg.{games}", f"docs.{events}", "--rename", "name=title")
    assert (code, report["differences"]) == (0, [])


def test_a_written_postgresql_migration_applies_and_the_diff_is_then_clean(places: Places) -> None:
    games = places.table("games", GAMES)
    copy = places.table("copy", "id bigint PRIMARY KEY, name text NOT NULL, score text")
    with places.hub.connection("pg") as conn:
        conn.execute(f"INSERT INTO {copy} VALUES (1, 'a', '7')")
        conn.commit()
    directory = places.config.parent / "migrations"
    result = places.cli("schema", "diff", f"pg.{games}", f"pg.{copy}", "--write-migration", str(directory))
    assert result.exit_code == 1, result.output
    (written,) = (directory / "pg").iterdir()
    assert written.name == f"V0001__align_{copy}.sql"
    assert f"wrote {written}" in result.output
    again = places.cli("schema", "diff", f"pg.{games}", f"pg.{copy}", "--write-migration", str(directory))
    assert f"kept {written}: it already proposes this migration" in again.output
    assert list((directory / "pg").iterdir()) == [written]
    up = places.cli("migrate", "up")
    assert up.exit_code == 0, up.output
    assert places.diff(f"pg.{games}", f"pg.{copy}")[0] == 0
    with places.hub.connection("pg") as conn:
        assert conn.execute(f"SELECT score FROM {copy}").fetchone() == (7,)
    down = places.cli("migrate", "down")
    assert down.exit_code == 0, down.output
    code, report = places.diff(f"pg.{games}", f"pg.{copy}")
    assert (code, found(report)) == (1, {("type", "score"), ("missing", "starts_at"), ("missing", "played")})


def test_a_written_mongodb_migration_applies_extends_the_validator_and_reverts(places: Places) -> None:
    games = places.table("games", GAMES + ", venue date")
    events = places.collection("events", _events(5, score="high"))
    directory = places.config.parent / "migrations"
    result = places.cli("schema", "diff", f"pg.{games}", f"docs.{events}", "--write-migration", str(directory))
    assert result.exit_code == 1, result.output
    (written,) = (directory / "docs").iterdir()
    assert written.name == f"V0001__align_{events}.py"
    up = places.cli("migrate", "up")
    assert up.exit_code == 0, up.output
    with places.hub.connection("docs") as db:
        (info,) = [c for c in db.list_collections() if c["name"] == events]
    kept = "validator" in info.get("options", {})
    if kept:
        assert places.diff(f"pg.{games}", f"docs.{events}")[0] == 0
    down = places.cli("migrate", "down")
    assert down.exit_code == 0, down.output
    assert found(places.diff(f"pg.{games}", f"docs.{events}")[1]) == {("missing", "venue"), ("type", "score")}
    if not kept:
        pytest.skip(
            "this MongoDB server (nx-27017) keeps no validator in listCollections: the migration applied and "
            "reverted, but the extended validator cannot be read back"
        )


def test_a_redis_hash_family_is_sampled_and_gets_no_migration(places: Places) -> None:
    teams = places.table("teams", "id bigint PRIMARY KEY, name text NOT NULL, founded date, rating numeric, city text")
    family = places.family(
        {str(i): {"name": f"T{i}", "rating": f"{i}.5", "colour": "red", "founded": "1901-05-01"} for i in range(1, 6)}
    )
    result = places.cli("schema", "diff", f"pg.{teams}", f"cache.{family}")
    assert result.exit_code == 1, result.output
    assert "no migration: cache." in result.output
    code, report = places.diff(f"pg.{teams}", f"cache.{family}", "--write-migration", str(places.config.parent / "m"))
    # the table's key (id) is the family's key suffix, not a field: not reported missing
    assert (code, found(report)) == (1, {("missing", "city"), ("extra", "colour")})
    assert report["migration"] is None and report["written"] == []
    types = {f["name"]: f["type"] for f in report["b"]["fields"]}
    assert types == {"name": "string", "rating": "number", "colour": "string", "founded": "date"}
    assert report["b"]["sampled"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nodot", "pg.x"], "'nodot': expected SOURCE.TABLE"),
        (["ghost.t", "pg.x"], "no source 'ghost'"),
        (["pg.no_such_table", "pg.x"], "no table 'no_such_table'"),
        (["docs.no_such_collection", "pg.x"], "no collection 'no_such_collection'"),
        (["pg.{t}", "cache.a*b*"], "must be a literal prefix followed by one '*'"),
        (["pg.{t}", "pg.{u}", "--rename", "oops"], "--rename 'oops': expected A_FIELD=B_FIELD"),
        (["pg.{t}", "pg.{u}", "--sample", "0"], "--sample"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(places: Places, args: list[str], message: str) -> None:
    names = {"t": places.table("t", "id int"), "u": places.table("u", "id int")}
    result = places.cli("schema", "diff", *(arg.format(**names) for arg in args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert message in result.output
    assert "Traceback" not in result.output
    if "--sample" not in args:  # click's own usage errors add the usage line
        assert len(lines) == 1, result.output


def test_text_values_are_typed_by_what_they_spell() -> None:
    assert [infer.of_text(t) for t in ("42", "-1.5e3", "true", "2026-01-05", "2026-01-05T10:00:00Z", "V1")] == [
        "integer",
        "number",
        "boolean",
        "date",
        "timestamp",
        "string",
    ]
    assert infer.merge(["integer", "number", "null"]) == "number"
    assert infer.merge(["integer", "boolean"]) == "unknown"
    assert infer.merge(["integer", "boolean"], textual=True) == "string"
    assert infer.merge(["null"]) == "null"


def test_keys_are_compared_only_when_the_other_side_names_them(places: Places) -> None:
    games = places.table("games", GAMES)
    events = places.collection("events", _events(5, id=None))
    assert places.diff(f"pg.{games}", f"docs.{events}")[0] == 0
    code, report = places.diff(f"pg.{games}", f"docs.{events}", "--rename", "id=_id")
    assert (code, found(report)) == (1, {("type", "id")})  # an ObjectId is a string
