"""``dbplex sync`` into a PostgreSQL table of uniform records (a key and a JSONB document), from
MongoDB and Redis: the records arrive, the closing mirror check reads them from the document and
passes, and it fails when the copy differs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from click.testing import CliRunner, Result

from dbplex.check import engine
from dbplex.check.rules import Mirror, Missing
from dbplex.cli.main import cli
from dbplex.ops import Put
from tests.sync.conftest import START, Setup
from tests.sync.test_sync import report


def sync(setup: Setup, source: str, *extra: str) -> Result:
    args = ["--config", str(setup.config), "sync", f"{source}.{setup.copy}", f"pg.{setup.games}", "--json", *extra]
    return CliRunner().invoke(cli, args)


def pg_records(setup: Setup) -> dict[str, dict[str, Any]]:
    """The target table's records, read directly from the server, by key."""
    with setup.hub.connection("pg") as conn:
        return dict(conn.execute(f"SELECT key, data FROM {setup.games}").fetchall())


def mirror_of(setup: Setup, source: str, fields: dict[str, str]) -> Any:
    rule = Mirror(source=f"{source}.{setup.copy}", target=f"pg.{setup.games}", fields=fields, key_type="str")
    return engine.check(setup.hub, "again", rule, 10, dt.datetime.now(dt.timezone.utc))


def test_mongo_into_pg_without_a_map_passes_and_a_changed_copy_fails(setup: Setup) -> None:
    docs = [
        {"_id": i, "name": f"g{i}", "n": i, "at": START + dt.timedelta(minutes=i), "meta": {"home": i % 4}}
        for i in range(1, 301)
    ]
    docs[1]["n"] = None
    with setup.hub.connection("docs") as db:
        db[setup.copy].insert_many(docs)
    result = report(sync(setup, "docs", "--batch", "120"))
    assert result["ok"] and result["mirror"]["status"] == "pass" and result["written"] == 300
    expected = {
        str(d["_id"]): {
            "name": d["name"],
            "n": d["n"],
            "at": d["at"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "meta": d["meta"],
        }
        for d in docs
    }
    assert pg_records(setup) == expected
    setup.sql("UPDATE {games} SET data = jsonb_set(data, '{{n}}', '-1') WHERE key = '7'")
    setup.sql("INSERT INTO {games} VALUES ('9999', '{{}}')")
    fields = {f: f for f in ("name", "n", "at", "meta")}
    found = mirror_of(setup, "docs", fields)
    assert found.status == "fail" and found.different.sample == ["7"] and found.extra.sample == ["9999"]
    assert report(sync(setup, "docs", "--delete"))["ok"] and pg_records(setup) == expected


def test_redis_into_pg_with_a_map_passes_and_delete_removes_strays(setup: Setup) -> None:
    for i in range(50):
        values = {"name": f"n{i}", "n": i, "ratio": i / 4, "raw": bytes([i]), "tags": ["a", str(i)]}
        setup.hub.execute("cache", Put(setup.copy, f"k{i}", values))
    setup.map.write_text('fields = { name = "title", n = "n", ratio = "ratio", raw = "raw", tags = "tags" }\n')
    result = report(sync(setup, "cache", "--map", str(setup.map)))
    assert result["ok"] and result["mirror"]["status"] == "pass" and result["written"] == 50
    expected = {f"k{i}": {"title": f"n{i}", "n": i, "ratio": i / 4, "tags": ["a", str(i)]} for i in range(50)}
    assert {k: {f: v for f, v in r.items() if f != "raw"} for k, r in pg_records(setup).items()} == expected
    fields = {"name": "title", "n": "n", "ratio": "ratio", "raw": "raw", "tags": "tags"}
    assert mirror_of(setup, "cache", fields).status == "pass"  # bytes survive: read back as the record ops do
    setup.hub.execute("pg", Put(setup.games, "stray", {"title": "x"}))
    assert not report(sync(setup, "cache", "--map", str(setup.map)))["ok"]
    cleaned = report(sync(setup, "cache", "--map", str(setup.map), "--delete"))
    assert cleaned["ok"] and cleaned["deleted"] == 1 and "stray" not in pg_records(setup)


def test_row_rules_read_document_fields(setup: Setup) -> None:
    for i in range(10):
        setup.hub.execute("pg", Put(setup.games, f"k{i}", {"n": None, "m": 1} if i == 3 else {"n": i}))
    now = dt.datetime.now(dt.timezone.utc)
    null_n = engine.check(setup.hub, "n", Missing(target=f"pg.{setup.games}", fields=["n"]), 10, now)
    assert null_n.status == "fail" and null_n.violations.sample == ["k3"]
    no_m = engine.check(setup.hub, "m", Missing(target=f"pg.{setup.games}", fields=["m"]), 10, now)
    assert no_m.violations.count == 9 and "k3" not in no_m.violations.sample  # an absent field is null
